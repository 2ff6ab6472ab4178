// flanneld, the supervisor: flag-compatible with flannel's flanneld, it picks the external
// interface and address, then chains the parts, each its own bundle beside this one:
//   weft-subnet (lease + subnet.env) -> weft-masq (FLANNEL-POSTRTG / FLANNEL-FWD) + weft-routes.
// A part that dies is restarted with backoff; SIGTERM stops them all and exits 0, leaving
// routes, rules, subnet.env and the lease in place, as flanneld does.
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { parseFlags, helpText, UsageError } from './lib/core/flags.ts'
import { log, die, errText } from './lib/core/log.ts'
import { SUPERVISOR_ENV } from './lib/core/part-guard.ts'
import { selectIface } from './lib/net/iface.ts'
import { parseIp } from './lib/net/cidr.ts'
import { runJson } from './lib/core/sh.ts'
import { parseSubnetEnv, type SubnetEnv } from './lib/formats/subnet-env.ts'
import { Part, bundlePath } from './lib/daemon/supervise.ts'
import { serveHealth } from './lib/daemon/healthz.ts'
import { ETCD_FLAGS, etcdArgs, etcdChildEnv, etcdFromFlags } from './lib/registry/etcd/flags.ts'
import type { NetworkConfig } from './lib/formats/net-conf.ts'
import { waitForConfig } from './lib/registry/etcd/config-wait.ts'

const VERSION = 'v0.1.0-weft'

const SPEC = {
  ...ETCD_FLAGS,
  iface: { type: 'list', help: 'interface to use (IP or name) for inter-host communication; may be repeated', arg: 'iface' },
  'iface-regex': { type: 'list', help: 'regex of the IPv4 address or name of the interface to use; may be repeated', arg: 'regex' },
  'iface-can-reach': { type: 'string', help: 'detect the interface to use by the route towards this IP', arg: 'ip' },
  'public-ip': { type: 'string', help: 'IP accessible by other nodes for inter-host communication', arg: 'ip' },
  'public-ipv6': { type: 'string', help: "IPv6 accessible by other nodes for inter-host communication (EnableIPv6; default: the interface's global IPv6 address)", arg: 'ip' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'filename where env variables (subnet, MTU, ...) will be written to', arg: 'path' },
  'subnet-lease-renew-margin': { type: 'int', default: 60, help: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439' },
  'ip-masq': { type: 'bool', help: 'setup IP masquerade rule for traffic destined outside of overlay network' },
  'ip-masq-fully-random-disable': { type: 'bool', help: 'disable --random-fully on the MASQUERADE rules' },
  'iptables-resync': { type: 'int', default: 5, help: 'resync period for iptables rules, in seconds' },
  'iptables-forward-rules': { type: 'bool', default: true, help: 'add default accept rules to FORWARD chain in iptables' },
  'healthz-ip': { type: 'string', default: '0.0.0.0', help: 'the IP address for healthz server to listen', arg: 'ip' },
  'healthz-port': { type: 'int', default: 0, help: 'the port for healthz server to listen (0 to disable)' },
  'kube-subnet-mgr': { type: 'bool', help: 'contact the Kubernetes API for subnet assignment (not supported by weft yet)' },
  // flanneld's other flags: known, so a unit written for flannel gets a clear answer, not "not defined".
  'ip-blackhole-route': { type: 'bool', help: 'add a blackhole route for the own subnet (weft-routes keeps it, at metric 10000)' },
  'kube-api-url': { type: 'string', help: 'kube subnet manager only; ignored', arg: 'url' },
  'kubeconfig-file': { type: 'string', help: 'kube subnet manager only; ignored', arg: 'file' },
  'kube-annotation-prefix': { type: 'string', help: 'kube subnet manager only; ignored', arg: 'prefix' },
  'net-config-path': { type: 'string', help: 'kube subnet manager only; ignored', arg: 'path' },
  'set-node-network-unavailable': { type: 'bool', default: true, help: 'kube subnet manager only; ignored' },
  vmodule: { type: 'string', help: 'klog flag, accepted and ignored', arg: 'pattern' },
  log_backtrace_at: { type: 'string', help: 'klog flag, accepted and ignored', arg: 'file:line' },
  'dry-run': { type: 'bool', help: "print what every part would do (each part's own --dry-run), change nothing" },
  version: { type: 'bool', help: 'print version and exit' },
  v: { type: 'int', default: 0, help: 'log level (accepted for compatibility; weft logs one line per event)' },
  help: { type: 'bool', help: 'show this help' },
} as const

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), SPEC, { envPrefix: 'FLANNELD_', positional: false })
  if (f.help) return void process.stdout.write(helpText('flanneld [flags]', SUMMARY, SPEC, 'FLANNELD_'))
  if (f.version) return void process.stderr.write(`${VERSION}\n`)
  const margin = f['subnet-lease-renew-margin']
  if (margin < 1 || margin > 1439) die('Invalid subnet-lease-renew-margin option, out of acceptable range')
  if (f['kube-subnet-mgr']) die('--kube-subnet-mgr is not supported by weft yet: use the etcd registry (see README)')
  if (f['public-ip']) parseIp(f['public-ip'], 4)
  if (f['public-ipv6']) parseIp(f['public-ipv6'], 6)
  if (f['iface-can-reach']) parseIp(f['iface-can-reach'])

  // 1. The external interface and the address other nodes reach us on.
  const ext = await selectIface({ iface: f.iface, ifaceRegex: f['iface-regex'], canReach: f['iface-can-reach'] || undefined, publicIp: f['public-ip'] || undefined })
  const publicIp = f['public-ip'] || ext.ip.text
  log(`Using interface with name ${ext.name} and address ${ext.ip.text}`)
  log(`Using ${publicIp} as external address`)
  // flanneld takes the v6 address from the same interface; the writer uses it only with EnableIPv6.
  const publicIpv6 = f['public-ipv6'] || (await globalIpv6(ext.name))
  if (publicIpv6) log(`Using ${publicIpv6} as external IPv6 address (used with EnableIPv6)`)

  // 2. What the previous run wrote, so the masquerade installer can remove rules of an old subnet.
  const prev = readPrevious(f['subnet-file'])

  const etcdFlags = etcdArgs(f)
  // Every part started from here on (supervised or --dry-run) inherits the etcd password this way.
  Object.assign(process.env, etcdChildEnv(f))
  // Parts stop when this process is gone (kill -9 included): lib/core/part-guard.ts.
  process.env[SUPERVISOR_ENV] = String(process.pid)
  const subnetFile = `--subnet-file=${f['subnet-file']}`
  const writerArgs = [...etcdFlags, `--public-ip=${publicIp}`, ...(publicIpv6 ? [`--public-ipv6=${publicIpv6}`] : []), `--iface=${ext.name}`, subnetFile, `--subnet-lease-renew-margin=${margin}`, `--ip-masq=${f['ip-masq']}`, '--vxlan-device']
  const masqArgs = (cfg: NetworkConfig) => {
    const args = [subnetFile, `--ip-masq=${f['ip-masq']}`, `--iptables-resync=${f['iptables-resync']}`, `--iptables-forward-rules=${f['iptables-forward-rules']}`]
    if (f['ip-masq-fully-random-disable']) args.push('--ip-masq-fully-random-disable')
    if (cfg.enableNFTables) args.push('--nftables')
    if (prev?.networks[0]) args.push(`--prev-network=${prev.networks[0].text}`)
    if (prev?.subnet) args.push(`--prev-subnet=${prev.subnet.text}`)
    if (prev?.ipv6Networks[0] && prev.ipv6Subnet) args.push(`--prev-ipv6-network=${prev.ipv6Networks[0].text}`, `--prev-ipv6-subnet=${prev.ipv6Subnet.text}`)
    return args
  }
  const routesArgs = [...etcdFlags, `--iface=${ext.name}`, subnetFile, ...(f['ip-blackhole-route'] ? ['--ip-blackhole-route'] : [])]
  // The writer has read the config already; read again here, it may be briefly out of reach
  // (etcd restarting): wait for it as flanneld does, and end quietly if we are stopped meanwhile.
  const loadConfig = async (signal?: AbortSignal) => {
    const cfg = await waitForConfig(etcdFromFlags(f), f['etcd-prefix'], signal)
    if (!cfg) return undefined
    // vxlan: weft-subnet has already made flannel.<VNI> (its MAC is in our lease); weft-routes
    // reads the same config and programs the peers on it.
    if (cfg.backend.type !== 'host-gw' && cfg.backend.type !== 'vxlan') throw new Error(`backend type "${cfg.backend.type}" is not supported by weft yet (host-gw and vxlan only)`)
    // flannel's host-gw check: peers route to our public IP, so it must be on the interface.
    if (cfg.backend.type === 'host-gw' && publicIp !== ext.ip.text) throw new Error(`your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend`)
    return cfg
  }

  if (f['dry-run']) return dryRun({ writerArgs, masqArgs, routesArgs, loadConfig, masq: f['ip-masq'] || f['iptables-forward-rules'] })

  let ready = false
  const parts: Part[] = []
  let stopping = false
  const stopped = new AbortController()
  const stopAll = async (why: string, code = 0) => {
    if (stopping) return
    stopping = true
    stopped.abort()
    log(`${why}: stopping`)
    await Promise.all(parts.map((p) => p.stop()))
    health?.close()
    log('Exiting cleanly...')
    process.exit(code)
  }
  process.on('SIGTERM', () => void stopAll('received SIGTERM'))
  process.on('SIGINT', () => void stopAll('received SIGINT'))

  const health =
    f['healthz-port'] > 0
      ? serveHealth(f['healthz-ip'], f['healthz-port'], () => ready, (e) => void stopAll(`healthz server: ${e.message}`, 1))
      : undefined

  // 3. The subnet writer; masquerade and routes start once subnet.env is written.
  let started = false
  const writer = new Part(
    {
      name: 'weft-subnet',
      args: writerArgs,
      onLine: (line) => {
        let ev: { event?: string; subnet?: string }
        try {
          ev = JSON.parse(line)
        } catch {
          return
        }
        if (ev.event !== 'subnet-written') return
        log(`Wrote subnet file to ${f['subnet-file']} (subnet ${ev.subnet})`)
        if (!ready) log('flannel is ready')
        ready = true
        if (!started) {
          started = true
          startOthers().catch((e) => void stopAll(errText(e), 1))
        }
      },
      // flanneld exits 0 when its lease is revoked; the writer does the same, and so do we.
      onExit: (code) => (code === 0 ? 'stop-all' : 'restart'),
    },
    (why) => void stopAll(why),
  )
  parts.push(writer)
  writer.start()

  async function startOthers(): Promise<void> {
    const cfg = await loadConfig(stopped.signal)
    // A SIGTERM that came while the config was read: stopAll has already taken the list of parts
    // to stop, so a part started now would outlive us.
    if (stopping || !cfg) return
    if (f['ip-masq'] || f['iptables-forward-rules']) {
      const masq = new Part({ name: 'weft-masq', args: masqArgs(cfg) }, (why) => void stopAll(why))
      parts.push(masq)
      masq.start()
    }
    const routes = new Part({ name: 'weft-routes', args: routesArgs }, (why) => void stopAll(why))
    parts.push(routes)
    routes.start()
  }
}

/**
 * --dry-run: each part's own --dry-run, in the daemon's order. The writer's plan says which subnet
 * it would take; the masquerade installer and the route syncer are then shown that subnet.
 */
async function dryRun(o: { writerArgs: string[]; masqArgs: (cfg: NetworkConfig) => string[]; routesArgs: string[]; loadConfig: () => Promise<NetworkConfig | undefined>; masq: boolean }): Promise<void> {
  const show = (name: string, args: string[]) => {
    process.stdout.write(`# ${name} --dry-run\n`)
    // The part's stderr goes straight through: while it waits (etcd away, no config yet) its
    // "waiting" lines are what the operator sees.
    const r = spawnSync(process.execPath, [bundlePath(name), ...args, '--dry-run'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
    process.stdout.write(r.stdout ?? '')
    if (r.status !== 0) {
      // e.g. the route syncer cannot plan vxlan peers before the writer has made flannel.<VNI>
      process.stdout.write(`# ${name} could not plan (exit ${r.status}; its message is above, on stderr)\n`)
    }
    return r
  }
  const w = show('weft-subnet', o.writerArgs)
  if (w.status !== 0) die(`weft-subnet --dry-run failed (exit ${w.status}; its message is above)`)
  const plan = w.stdout ?? ''
  const network = /^FLANNEL_NETWORK=(\S+)$/m.exec(plan)?.[1]
  const subnet = /^FLANNEL_SUBNET=(\S+)$/m.exec(plan)?.[1]
  if (!network || !subnet) die('weft-subnet --dry-run planned no subnet.env')
  const network6 = /^FLANNEL_IPV6_NETWORK=(\S+)$/m.exec(plan)?.[1]
  const subnet6 = /^FLANNEL_IPV6_SUBNET=(\S+)$/m.exec(plan)?.[1]
  const given = [`--network=${network}`, `--subnet=${subnet}`, ...(network6 && subnet6 ? [`--ipv6-network=${network6}`, `--ipv6-subnet=${subnet6}`] : [])]
  const cfg = (await o.loadConfig())!
  if (o.masq) show('weft-masq', [...o.masqArgs(cfg), ...given])
  show('weft-routes', [...o.routesArgs, ...given])
}

/** The interface's first usable global IPv6 address (permanent before dynamic; deprecated and tentative skipped), or ''. */
async function globalIpv6(ifname: string): Promise<string> {
  type A = { local?: string; scope?: string; dynamic?: boolean; deprecated?: boolean; tentative?: boolean; dadfailed?: boolean }
  const links = await runJson<{ addr_info?: A[] }[]>(['ip', '-j', '-6', 'addr', 'show', 'dev', ifname, 'scope', 'global']).catch(() => [])
  const addrs = links.flatMap((l) => l.addr_info ?? []).filter((a) => a.local && a.scope === 'global' && !a.deprecated && !a.tentative && !a.dadfailed)
  return (addrs.find((a) => !a.dynamic) ?? addrs[0])?.local ?? ''
}

function readPrevious(path: string): SubnetEnv | undefined {
  try {
    return parseSubnetEnv(readFileSync(path, 'utf8'), path)
  } catch {
    return undefined
  }
}

const SUMMARY = `
Runs weft's node daemon with flanneld's flags: acquires this node's subnet lease in etcd and writes
subnet.env (weft-subnet), installs the masquerade and forward rules (weft-masq, with --ip-masq /
--iptables-forward-rules), and keeps routes to every other node's subnet (weft-routes: host-gw
routes, or vxlan neighbour/fdb/route entries on flannel.<VNI>, which weft-subnet creates).
Health: GET /healthz (200) and /readyz (503 until subnet.env is written) on --healthz-port.`

main().catch((e) => die(e instanceof UsageError ? `${e.message} (see --help)` : errText(e), e instanceof UsageError ? 2 : 1))
