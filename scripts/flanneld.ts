// flanneld, the supervisor: flag-compatible with flannel's flanneld, it picks the external
// interface and address, then chains the parts, each its own bundle beside this one:
//   weft-subnet (lease + subnet.env) -> weft-masq (FLANNEL-POSTRTG / FLANNEL-FWD) + weft-routes.
// A part that dies is restarted with backoff; SIGTERM stops them all and exits 0, leaving
// routes, rules, subnet.env and the lease in place, as flanneld does.
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { parseFlags, helpText, UsageError, renderFlags } from './lib/core/flags.ts'
import { WRITER_SPEC } from './lib/subnet/flags.ts'
import { ROUTES_SPEC } from './lib/routes/flags.ts'
import { spec as MASQ_SPEC } from './lib/masq/config.ts'
import { runMain, fail } from './lib/core/cli.ts'
import { log, errText, debug } from './lib/core/log.ts'
import { SUPERVISOR_ENV } from './lib/core/part-guard.ts'
import { selectIface, globalIpv6 } from './lib/net/iface.ts'
import { parseSubnetEnv, type SubnetEnv } from './lib/formats/subnet-env.ts'
import { parseIp } from './lib/net/cidr.ts'
import { Part, bundlePath, type PartSpec } from './lib/daemon/supervise.ts'
import { serveHealth } from './lib/daemon/healthz.ts'
import { NodeHealth } from './lib/daemon/node-health.ts'
import { parseEvent, type PartEvent } from './lib/daemon/events.ts'
import { notifyReady } from './lib/daemon/sd-notify.ts'
import { FLANNELD_SPEC, flanneldValueError } from './lib/daemon/flanneld-flags.ts'
import { etcdArgs, etcdChildEnv, etcdFromFlags } from './lib/registry/etcd/flags.ts'
import type { NetworkConfig } from './lib/formats/net-conf.ts'
import { waitForConfig } from './lib/registry/etcd/config-wait.ts'
import { kubeArgs, kubeSetup, kubeRegistryFromFlags } from './lib/registry/kube/flags.ts'
import { ann } from './lib/registry/kube/node.ts'
import { PermanentError } from './lib/registry/registry.ts'

const VERSION = 'v0.1.0-weft'

const SPEC = FLANNELD_SPEC

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), SPEC, { envPrefix: 'FLANNELD_', positional: false })
  if (f.help) return void process.stdout.write(helpText('flanneld [flags]', SUMMARY, SPEC, 'FLANNELD_'))
  if (f.version) return void process.stderr.write(`${VERSION}\n`)
  if (f.v < 0) throw new UsageError(`-v=${f.v}: must be 0 or more`)
  process.env.WEFT_LOG_V = String(f.v) // every part inherits it
  const margin = f['subnet-lease-renew-margin']
  const liveness = f['part-liveness-timeout']
  // Kubernetes mode: net-conf.json, the credentials and the node name are checked before anything
  // is written; the parts read them again the same way.
  const kube = f['kube-subnet-mgr'] ? kubeSetup(f) : undefined
  // flanneld: our Node's node-public-ip(v6) annotations replace --public-ip(v6) (main.go).
  if (kube && !f['dry-run']) Object.assign(f, await nodePublicIps(f))
  const bad = flanneldValueError(f)
  if (bad) fail(bad)

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

  const etcdFlags = kube ? kubeArgs(f) : etcdArgs(f)
  // Every part started from here on (supervised or --dry-run) inherits the etcd password this way.
  Object.assign(process.env, etcdChildEnv(f))
  // Parts stop when this process is gone (kill -9 included): lib/core/part-guard.ts.
  process.env[SUPERVISOR_ENV] = String(process.pid)
  // Each part's command line is rendered with the part's own flag spec (core/flags.ts renderFlags),
  // so a name or type the part would not parse fails to compile here.
  const writerArgs = [
    ...etcdFlags,
    ...renderFlags(WRITER_SPEC, {
      'public-ip': publicIp,
      'public-ipv6': publicIpv6 || undefined,
      iface: ext.name,
      'subnet-file': f['subnet-file'],
      'subnet-lease-renew-margin': margin,
      'ip-masq': f['ip-masq'],
      'vxlan-device': true,
    }),
  ]
  const masqArgs = (cfg: NetworkConfig) =>
    renderFlags(MASQ_SPEC, {
      'subnet-file': f['subnet-file'],
      'ip-masq': f['ip-masq'],
      'iptables-resync': f['iptables-resync'],
      'iptables-forward-rules': f['iptables-forward-rules'],
      'ip-masq-fully-random-disable': f['ip-masq-fully-random-disable'] || undefined,
      nftables: cfg.enableNFTables || undefined,
      'prev-network': prev?.networks[0]?.text,
      'prev-subnet': prev?.subnet?.text,
      ...(prev?.ipv6Networks[0] && prev.ipv6Subnet ? { 'prev-ipv6-network': prev.ipv6Networks[0].text, 'prev-ipv6-subnet': prev.ipv6Subnet.text } : {}),
    })
  const routesArgs = [...etcdFlags, ...renderFlags(ROUTES_SPEC, { iface: ext.name, 'subnet-file': f['subnet-file'], 'ip-blackhole-route': f['ip-blackhole-route'] || undefined })]
  // The writer has read the config already; read again here, it may be briefly out of reach
  // (etcd restarting): wait for it as flanneld does, and end quietly if we are stopped meanwhile.
  const loadConfig = async (signal?: AbortSignal) => {
    const cfg = kube ? kube.netConf : await waitForConfig(etcdFromFlags(f), f['etcd-prefix'], signal)
    if (!cfg) return undefined
    // vxlan: weft-subnet has already made flannel.<VNI> (its MAC is in our lease); weft-routes
    // reads the same config and programs the peers on it.
    if (cfg.backend.type !== 'host-gw' && cfg.backend.type !== 'vxlan') throw new Error(`backend type "${cfg.backend.type}" is not supported by weft yet (host-gw and vxlan only)`)
    // flannel's host-gw check: peers route to our public IP, so it must be on the interface.
    if (cfg.backend.type === 'host-gw' && publicIp !== ext.ip.text)
      throw new Error(`your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend`)
    return cfg
  }

  if (f['dry-run']) return dryRun({ writerArgs, masqArgs, routesArgs, loadConfig, masq: f['ip-masq'] || f['iptables-forward-rules'] })

  const health = new NodeHealth(f['subnet-file'], VERSION)
  health.expect('weft-subnet')
  const withMasq = f['ip-masq'] || f['iptables-forward-rules']
  if (withMasq) health.expect('weft-masq')
  health.expect('weft-routes')
  // One log line when the node turns ready or stops being ready, with the reason.
  let wasReady = false
  const readiness = () => {
    const r = health.readiness()
    if (r.ready !== wasReady) log(r.ready ? 'flannel is ready' : `flannel is not ready: ${r.reason}`)
    wasReady = r.ready
  }
  const parts: Part[] = []
  // Every part reports to the node's health; each is killed and restarted when its heartbeats stop.
  const watched = (spec: PartSpec): PartSpec => ({
    ...spec,
    livenessMs: liveness * 1000,
    onEvent: (ev) => {
      debug(`${spec.name}: ${JSON.stringify(ev)}`, ev.event === 'heartbeat' ? 3 : 2)
      health.event(spec.name, ev)
      spec.onEvent?.(ev)
      if (ev.event !== 'heartbeat') readiness()
    },
    onLifecycle: (what, detail) => {
      health.lifecycle(spec.name, what, detail, parts.find((p) => p.spec.name === spec.name)?.pid)
      readiness()
    },
  })

  // A part exits 3 on a permanent registry error (401, 403, an untrusted API server): restarting
  // it would only repeat the refusal, so the daemon stops with that part's message and status 1.
  let permanent = false
  const verdict = (code: number | null): 'stop-all' | 'restart' => (code === 3 ? ((permanent = true), 'stop-all') : 'restart')
  let stopping = false
  const stopped = new AbortController()
  const stopAll = async (why: string, code = 0) => {
    if (stopping) return
    stopping = true
    stopped.abort()
    log(`${why}: stopping`)
    await Promise.all(parts.map((p) => p.stop()))
    server?.close()
    log('Exiting cleanly...')
    process.exit(code)
  }
  process.on('SIGTERM', () => void stopAll('received SIGTERM'))
  process.on('SIGINT', () => void stopAll('received SIGINT'))

  const server = f['healthz-port'] > 0 ? serveHealth(f['healthz-ip'], f['healthz-port'], health, (e) => void stopAll(`healthz server: ${e.message}`, 1)) : undefined
  // A subnet.env deleted under us turns the node not ready (and says so) without any event.
  setInterval(readiness, 1000).unref()

  // 3. The subnet writer; masquerade and routes start once subnet.env is written.
  let started = false
  const writer = new Part(
    watched({
      name: 'weft-subnet',
      args: writerArgs,
      onEvent: (ev) => {
        if (ev.event !== 'subnet' || ev.planned) return
        log(`Wrote subnet file to ${f['subnet-file']} (subnet ${[ev.subnet, ev.ipv6Subnet].filter(Boolean).join(', ')})`)
        // systemd (Type=notify): started once subnet.env is there, as pods need nothing more.
        if (!started) void notifyReady(`subnet ${ev.subnet} written to ${f['subnet-file']}`)
        if (!started) {
          started = true
          startOthers().catch((e) => void stopAll(errText(e), 1))
        }
      },
      // flanneld exits 0 when its lease is revoked; the writer does the same, and so do we.
      onExit: (code) => (code === 0 ? 'stop-all' : verdict(code)),
    }),
    (why) => void stopAll(why, permanent ? 1 : 0),
  )
  parts.push(writer)
  writer.start()

  async function startOthers(): Promise<void> {
    const cfg = await loadConfig(stopped.signal)
    // A SIGTERM that came while the config was read: stopAll has already taken the list of parts
    // to stop, so a part started now would outlive us.
    if (stopping || !cfg) return
    if (withMasq) {
      const masq = new Part(watched({ name: 'weft-masq', args: masqArgs(cfg) }), (why) => void stopAll(why))
      parts.push(masq)
      masq.start()
    }
    const routes = new Part(watched({ name: 'weft-routes', args: routesArgs, onExit: verdict }), (why) => void stopAll(why, permanent ? 1 : 0))
    parts.push(routes)
    routes.start()
  }
}

/**
 * --dry-run: each part's own --dry-run, in the daemon's order. The writer's plan says which subnet
 * it would take; the masquerade installer and the route syncer are then shown that subnet.
 */
async function dryRun(o: {
  writerArgs: string[]
  masqArgs: (cfg: NetworkConfig) => string[]
  routesArgs: string[]
  loadConfig: () => Promise<NetworkConfig | undefined>
  masq: boolean
}): Promise<void> {
  const show = (name: string, args: string[]) => {
    process.stdout.write(`# ${name} --dry-run\n`)
    // The part's stderr goes straight through: while it waits (etcd away, no config yet) its
    // "waiting" lines are what the operator sees.
    // fd 3: the part's typed events (the writer's planned subnet.env), as when supervised.
    const r = spawnSync(process.execPath, [bundlePath(name), ...args, '--dry-run'], {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, WEFT_EVENTS_FD: '3' },
    })
    process.stdout.write(r.stdout ?? '')
    if (r.status !== 0) {
      // e.g. the route syncer cannot plan vxlan peers before the writer has made flannel.<VNI>
      process.stdout.write(`# ${name} could not plan (exit ${r.status}; its message is above, on stderr)\n`)
    }
    return r
  }
  const w = show('weft-subnet', o.writerArgs)
  if (w.status !== 0) fail(`weft-subnet --dry-run failed (exit ${w.status}; its message is above)`)
  const events = String(w.output[3] ?? '')
    .split('\n')
    .filter(Boolean)
    .map(parseEvent)
  const planned = events.find((e): e is Extract<PartEvent, { event: 'subnet' }> => 'event' in e && e.event === 'subnet' && e.planned)
  const { network, subnet, ipv6Network: network6, ipv6Subnet: subnet6 } = planned ?? {}
  if (!network || !subnet) fail('weft-subnet --dry-run planned no subnet.env')
  const given = [`--network=${network}`, `--subnet=${subnet}`, ...(network6 && subnet6 ? [`--ipv6-network=${network6}`, `--ipv6-subnet=${subnet6}`] : [])]
  const cfg = (await o.loadConfig())!
  if (o.masq) show('weft-masq', [...o.masqArgs(cfg), ...given])
  show('weft-routes', [...o.routesArgs, ...given])
}

/** --public-ip / --public-ipv6 from our Node's node-public-ip annotations, when set and valid. */
async function nodePublicIps(
  f: Parameters<typeof kubeRegistryFromFlags>[0] & { 'public-ip': string; 'public-ipv6': string },
): Promise<{ 'public-ip': string; 'public-ipv6': string }> {
  const reg = await kubeRegistryFromFlags(f)
  try {
    const node = await reg.ourNode()
    const a = ann(reg.o.prefix)
    const out = { 'public-ip': f['public-ip'], 'public-ipv6': f['public-ipv6'] }
    for (const [key, flag, fam] of [
      [a.nodeIp, 'public-ip', 4],
      [a.nodeIp6, 'public-ipv6', 6],
    ] as const) {
      const v = node?.metadata.annotations?.[key]
      if (!v) continue
      try {
        out[flag] = parseIp(v, fam).text
        log(`Using ${out[flag]} from node annotation ${key} as --${flag}`)
      } catch {
        log(`warning: ignoring node annotation ${key}=${JSON.stringify(v.slice(0, 60))}: not an IPv${fam} address`)
      }
    }
    return out
  } catch (e) {
    if (e instanceof PermanentError) fail(errText(e))
    throw e
  } finally {
    reg.close()
  }
}

function readPrevious(path: string): SubnetEnv | undefined {
  try {
    return parseSubnetEnv(readFileSync(path, 'utf8'), path)
  } catch {
    return undefined
  }
}

const SUMMARY = `
Runs weft's node daemon with flanneld's flags: acquires this node's subnet lease in etcd (or, with
--kube-subnet-mgr, takes its Kubernetes Node's podCIDR and publishes flannel's annotations) and writes
subnet.env (weft-subnet), installs the masquerade and forward rules (weft-masq, with --ip-masq /
--iptables-forward-rules), and keeps routes to every other node's subnet (weft-routes: host-gw
routes, or vxlan neighbour/fdb/route entries on flannel.<VNI>, which weft-subnet creates).
Health on --healthz-port: GET /healthz (200 while flanneld runs); /readyz (200 only while
subnet.env is on disk and every part reports ready; ?verbose gives each part's state as JSON);
/metrics (Prometheus). A part whose heartbeats stop for --part-liveness-timeout is restarted.`

runMain('flanneld', main)
