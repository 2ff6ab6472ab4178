// The node itself: flanneld and its parts running in this network namespace, flanneld's own
// readiness, the conflist and its plugins, the sysctls pods need (read from /proc/sys, which is
// this namespace's), and one MTU from the interface to the pods.
import { existsSync, readFileSync, readdirSync, readlinkSync, accessSync, constants } from 'node:fs'
import { basename, join } from 'node:path'
import { runJson } from '../core/sh.ts'
import { errText } from '../core/log.ts'
import { ok, fail, warn, skip, type Verdict } from './report.ts'
import { bridgeNfFix, bridgeNfOff, mtuProblems } from '../routes/conditions.ts'

const PARTS = ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes']

/** Our programs running in this network namespace: name -> [pid, state letter]. */
export function ourProcesses(): Map<string, { pid: number; state: string }[]> {
  const out = new Map<string, { pid: number; state: string }[]>()
  let self: string
  try {
    self = readlinkSync('/proc/self/ns/net')
  } catch {
    return out
  }
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')
      // node <bundle> ...: the bundle is argv[1]; run directly (shebang) it is argv[1] too.
      const name = PARTS.find((p) => argv.slice(0, 2).some((a) => basename(a) === p))
      if (!name || readlinkSync(`/proc/${d}/ns/net`) !== self) continue
      const state = readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '')[0]
      out.set(name, [...(out.get(name) ?? []), { pid: Number(d), state }])
    } catch {}
  }
  return out
}

export function checkProcesses(wantMasq: boolean): Verdict {
  const procs = ourProcesses()
  const want = ['flanneld', 'weft-subnet', ...(wantMasq ? ['weft-masq'] : []), 'weft-routes']
  const missing = want.filter((p) => !procs.has(p))
  const stopped = [...procs].flatMap(([n, ps]) => ps.filter((p) => p.state === 'T').map((p) => `${n} (pid ${p.pid})`))
  const twice = [...procs].filter(([, ps]) => ps.length > 1).map(([n, ps]) => `${n} x${ps.length}`)
  const seen = want
    .filter((p) => procs.has(p))
    .map(
      (p) =>
        `${p} ${procs
          .get(p)!
          .map((x) => x.pid)
          .join(',')}`,
    )
  if (!procs.has('flanneld'))
    return fail('processes', `flanneld is not running in this network namespace${missing.length < want.length ? ` (found: ${seen.join('; ')})` : ''}`, 'systemctl start flanneld')
  if (missing.length) return fail('processes', `not running: ${missing.join(', ')} (flanneld restarts a part that dies, with backoff: see its log)`, 'journalctl -u flanneld -n 50')
  if (stopped.length)
    return fail(
      'processes',
      `stopped (SIGSTOP): ${stopped.join(', ')}; flanneld restarts a hung part after --part-liveness-timeout`,
      `kill -CONT ${stopped.map((s) => /pid (\d+)/.exec(s)![1]).join(' ')}`,
    )
  if (twice.length) return warn('processes', `more than one copy: ${twice.join(', ')}`, 'systemctl restart flanneld')
  return ok('processes', seen.join('; '))
}

/** flanneld's /readyz?verbose, when its health port is known. */
export async function checkReadyz(ip: string, port: number): Promise<Verdict> {
  if (!port) return skip('readiness', 'no --healthz-port given')
  const host = ip === '0.0.0.0' || ip === '' ? '127.0.0.1' : ip.includes(':') ? `[${ip}]` : ip
  try {
    const r = await fetch(`http://${host}:${port}/readyz?verbose`, { signal: AbortSignal.timeout(3000) })
    const body = (await r.json()) as { ready: boolean; reason: string; parts: Record<string, { state: string; restarts: number }> }
    const parts = Object.entries(body.parts)
      .map(([n, p]) => `${n} ${p.state}${p.restarts ? ` (${p.restarts} restarts)` : ''}`)
      .join(', ')
    return body.ready ? ok('readiness', `/readyz 200: ${parts}`) : fail('readiness', `/readyz ${r.status}: ${body.reason}`, 'journalctl -u flanneld -n 50')
  } catch (e) {
    return fail('readiness', `http://${host}:${port}/readyz: ${errText(e)}`, 'systemctl status flanneld')
  }
}

function sysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path.replace(/\./g, '/')}`, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** Forwarding on, and br_netfilter with bridge-nf-call-iptables (kube-proxy's service rules need them). */
export function checkSysctls(v6: boolean): Verdict[] {
  const out: Verdict[] = []
  const fwd = sysctl('net.ipv4.ip_forward')
  // The bridge plugin turns forwarding on with the first pod: before any pod (no cni0) it is only a warning.
  const pods = existsSync('/sys/class/net/cni0')
  if (fwd !== '1')
    out.push(
      (pods ? fail : warn)(
        'forwarding',
        `net.ipv4.ip_forward is ${fwd ?? 'unreadable'}: this node drops traffic to and from other nodes' pods${pods ? '' : ' (no pod yet: the bridge plugin turns it on with the first one)'}`,
        'sysctl -w net.ipv4.ip_forward=1',
      ),
    )
  else if (v6 && sysctl('net.ipv6.conf.all.forwarding') !== '1')
    out.push(fail('forwarding', 'net.ipv6.conf.all.forwarding is off (EnableIPv6)', 'sysctl -w net.ipv6.conf.all.forwarding=1'))
  else out.push(ok('forwarding', `net.ipv4.ip_forward=1${v6 ? ', net.ipv6.conf.all.forwarding=1' : ''}`))
  const off = bridgeNfOff(v6)
  if (!off)
    out.push(
      warn(
        'br_netfilter',
        'module br_netfilter not loaded: bridged pod traffic skips iptables (Services through kube-proxy break)',
        'modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/br_netfilter.conf',
      ),
    )
  else {
    if (off.length) out.push(fail('br_netfilter', `${off.join(', ')} off: bridged pod traffic skips iptables`, bridgeNfFix(off)))
    else out.push(ok('br_netfilter', `loaded; bridge-nf-call-iptables=1${v6 ? ', bridge-nf-call-ip6tables=1' : ''}`))
  }
  return out
}

/** The runtime's first config file (as it picks it: lexical order), a flannel plugin in it, every plugin binary present. */
export function checkConflist(confDir: string, binDirs: string[]): Verdict {
  let files: string[]
  try {
    files = readdirSync(confDir)
      .filter((f) => /\.(conflist|conf|json)$/.test(f))
      .sort()
  } catch (e) {
    return fail('cni config', `${confDir}: ${errText(e)}`, 'weft-install (writes 10-flannel.conflist)')
  }
  if (!files.length) return fail('cni config', `no network config in ${confDir}`, 'weft-install (writes 10-flannel.conflist)')
  const file = join(confDir, files[0])
  let conf: { plugins?: { type?: unknown; delegate?: { type?: unknown } }[]; type?: unknown; delegate?: { type?: unknown } }
  try {
    conf = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    return fail('cni config', `${file}: ${errText(e)}`, 'weft-install')
  }
  const plugins = conf.plugins ?? [conf]
  if (!plugins.some((p) => p.type === 'flannel'))
    return fail(
      'cni config',
      `${file} (the runtime's first) has no flannel plugin: ${plugins.map((p) => String(p.type)).join(', ')}`,
      `mv ${file} ${file}.disabled, or weft-install`,
    )
  const needed = new Set<string>(['host-local'])
  for (const p of plugins) {
    if (typeof p.type === 'string') needed.add(p.type)
    if (p.type === 'flannel') needed.add(typeof p.delegate?.type === 'string' ? p.delegate.type : 'bridge')
  }
  const missing = [...needed].filter((t) => !binDirs.some((d) => executable(join(d, t))))
  if (missing.length)
    return fail(
      'cni config',
      `${file}: plugin(s) not found in ${binDirs.join(':')}: ${missing.join(', ')}`,
      missing.includes('flannel') ? 'weft-install' : 'apt-get install containernetworking-plugins',
    )
  return ok('cni config', `${file}: ${plugins.map((p) => String(p.type)).join(', ')}; plugins found (${[...needed].join(', ')})`)
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The external interface, FLANNEL_MTU, and the bridge pods hang off agree. */
export async function checkMtu(ext: { name: string; mtu: number }, want: number | undefined, envMtu: number | undefined, bridge = 'cni0'): Promise<Verdict> {
  if (want === undefined) return skip('mtu', 'needs the network config')
  const links = await runJson<{ ifname: string; mtu: number }[]>(['ip', '-j', 'link', 'show', 'dev', bridge]).catch(() => [])
  const br = links[0]
  // The route syncer's own MTU condition (routes/conditions.ts), which /readyz follows.
  const bad = mtuProblems({ iface: ext.name, ifaceMtu: ext.mtu, want, envMtu, bridge: br ? { name: bridge, mtu: br.mtu } : undefined })
  if (bad.length)
    return fail(
      'mtu',
      bad.join('; '),
      envMtu !== want ? 'systemctl restart flanneld (rewrites FLANNEL_MTU); pods keep their old MTU until recreated' : `ip link set dev ${bridge} mtu ${want}`,
    )
  return ok('mtu', `${ext.name} ${ext.mtu}, FLANNEL_MTU ${envMtu}${br ? `, ${bridge} ${br.mtu}` : ''}`)
}
