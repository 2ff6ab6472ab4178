// weft-routes: the host-gw route syncer. Keeps one route `<peer subnet> via <peer public IP> dev
// <iface>` per valid peer lease in etcd, and no other gateway route inside the cluster network.
// Driven by a watch on <prefix>/subnets plus a periodic full resync that repairs drift.
// See docs/route-syncer.md.
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { parseFlags, helpText, UsageError, type FlagSpec } from './lib/core/flags.ts'
import { runMain, fail, FatalError } from './lib/core/cli.ts'
import { log, warn, errText } from './lib/core/log.ts'
import { exitWithSupervisor, holdLock } from './lib/core/part-guard.ts'
import { parseCidr, type Cidr } from './lib/net/cidr.ts'
import { ifaceNameProblem } from './lib/net/iface.ts'
import { parseSubnetEnv } from './lib/formats/subnet-env.ts'
import { ETCD_FLAGS, etcdFromFlags } from './lib/registry/etcd/flags.ts'
import type { NetworkConfig } from './lib/formats/net-conf.ts'
import { EtcdRegistry } from './lib/registry/etcd/registry.ts'
import { KUBE_FLAGS, kubeRegistryFromFlags } from './lib/registry/kube/flags.ts'
import { PermanentError, type PeerSource, type Registry } from './lib/registry/registry.ts'
import { watchRouteDeletions } from './lib/routes/monitor.ts'
import { showPlan } from './lib/core/sh.ts'
import { applyBatch, batchStep, prepareBatch, readIfaceAndRoutes, readIfaceNets } from './lib/routes/kernel.ts'
import { sleep } from './lib/registry/etcd/peers.ts'
import { DesiredRoutes, Coalescer, RouteSyncer, planSync, type NodeView } from './lib/routes/hostgw/sync.ts'
import { readLink } from './lib/subnet/vxlan-device.ts'
import { VxlanPeers, VxlanSyncer, planVxlanSync, vxlanDev, vxlanSteps } from './lib/routes/vxlan/sync.ts'
import { splitDirect } from './lib/routes/vxlan/direct.ts'
import type { VxlanBackend } from './lib/formats/backend.ts'
import { planSummary } from './lib/routes/hostgw/plan.ts'
import { startHeartbeat } from './lib/daemon/events.ts'
import { reportSync, type SyncOutcome } from './lib/routes/sync-report.ts'

const spec = {
  ...ETCD_FLAGS,
  ...KUBE_FLAGS,
  iface: { type: 'string', help: 'external interface the peer routes go through (required)', arg: 'name' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'file holding our subnet and the cluster network', arg: 'path' },
  subnet: { type: 'string', help: 'our own subnet (overrides FLANNEL_SUBNET of --subnet-file)', arg: 'cidr' },
  network: { type: 'string', help: 'the cluster network (overrides FLANNEL_NETWORK of --subnet-file)', arg: 'cidr' },
  'ipv6-subnet': { type: 'string', help: 'our own IPv6 subnet (overrides FLANNEL_IPV6_SUBNET; with --ipv6-network)', arg: 'cidr' },
  'ipv6-network': { type: 'string', help: 'the IPv6 cluster network (overrides FLANNEL_IPV6_NETWORK; with --ipv6-subnet)', arg: 'cidr' },
  'ip-blackhole-route': { type: 'bool', help: 'keep a blackhole route (metric 10000) for our own subnet(s), re-added by every full resync' },
  resync: { type: 'int', default: 10, help: 'seconds between full resyncs (kernel re-read, registry re-list)', arg: 'seconds' },
  once: { type: 'bool', help: 'one full sync, then exit (status 1 if a route could not be written)' },
  'dry-run': { type: 'bool', help: 'print the ip -batch plan of one sync and change nothing' },
  help: { type: 'bool', help: 'show this help' },
} satisfies FlagSpec

const summary = `Keep this node's host-gw routes to every peer subnet in etcd: one
"<peer subnet> via <peer PublicIP> dev <iface>" per valid host-gw lease, applied as one
ip -batch. Gateway routes inside the cluster network that match no lease are removed; routes
outside the network, and routes without a gateway, are never touched. SIGTERM leaves routes.
With "Backend":{"Type":"vxlan"}: per vxlan peer, its neighbour, fdb entry and onlink route on
flannel.<VNI> (made by the subnet writer), as one bridge -batch and one ip -batch.`

async function main(): Promise<void> {
  steadyHeap()
  const f = parseFlags(process.argv.slice(2), spec, { envPrefix: 'FLANNELD_', positional: false })
  if (f.help) return void process.stdout.write(helpText('weft-routes --iface NAME [flags]', summary, spec, 'FLANNELD_'))
  if (f.resync < 1) throw new UsageError(`--resync must be at least 1 second, got ${f.resync}`)
  startHeartbeat()
  const iface = checkIfaceName(f.iface)
  // One daemon per node, gone with its flanneld (issue 13 item 6); a one-shot sync (an operator's
  // repair, the doctor's fix) or a dry run is neither, as in weft-masq.
  if (!f['dry-run'] && !f.once) {
    holdLock('weft-routes', f['subnet-file'])
    exitWithSupervisor(log)
  }
  const local = loadLocal(f['subnet-file'], f.subnet, f.network, f['ipv6-subnet'], f['ipv6-network'])
  const reg = await openRegistry(f)
  const stop = new AbortController()
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping, routes left in place`)
      stop.abort()
      process.exit(0)
    })
  }

  // Everything a sync needs, read at once: the network config and the leases (sent first, so
  // etcd works while zx loads), then the interface's addresses and, used by the first sync if
  // still fresh, the kernel's IPv4 routes.
  const registry = reg.peers()
  const etcdRead = Promise.all([reg.config(stop.signal).then((c) => c ?? process.exit(0)), everySecond(() => registry.relist(), stop.signal)])
  const start = await readIfaceAndRoutes(iface)
  if (!start.addrs) fail(`--iface ${iface}: no such interface`)
  // The first sync's ip, forked now (small heap, cheap fork) rather than after planning.
  const prepared = f['dry-run'] ? undefined : prepareBatch()
  const readAt = Date.now()
  const [cfg] = await etcdRead
  const node = { ...nodeView(reg.kind, f['etcd-prefix'], iface, cfg, local, start.addrs), blackhole: f['ip-blackhole-route'], ifaceNets: start.nets }
  if (cfg.backend.type === 'vxlan') {
    if (prepared) await applyBatch('', prepared) // host-gw's, not needed: let it exit
    return await vxlanMain(f, node, registry, stop.signal)
  }
  const kernel = Date.now() - readAt < 1000 && node.networks.every((n) => n.family === 4) ? start.routes : undefined
  const desired = new DesiredRoutes(node)

  if (f['dry-run']) {
    const plan = await planSync(node, desired.compute(registry.leases).routes, kernel)
    process.stdout.write(showPlan(plan.batch ? [batchStep(plan.batch)] : []))
    log(`dry run: would apply ${plan.added} added, ${plan.replaced} replaced, ${plan.removed} removed; nothing changed`)
    return
  }
  const routes = new RouteSyncer(node, prepared, !f.once)
  if (f.once) {
    const ok = await routes.sync(desired.compute(registry.leases).routes, true, undefined, kernel)
    reg.close()
    process.exitCode = ok ? 0 : 1
    return
  }

  log(`watching ${registry.describe()}; full resync every ${f.resync} s`)
  let listed = true // the first full sync uses the snapshot just read
  const sync = new Coalescer(async (full) => {
    // When etcd is down, the registry says so once; the kernel is still repaired below.
    if (full && !listed) await registry.relist().catch(() => {})
    const t0 = performance.now()
    const { routes: want, touched } = desired.compute(registry.leases)
    await routes.sync(want, full, touched, listed ? kernel : undefined)
    const l = routes.last
    if (l)
      reportSync({
        full,
        repair: full && !listed,
        seconds: (performance.now() - t0) / 1000,
        peers: peerCount(registry),
        desired: want.length,
        outcomes: [{ ...l.plan, batch: l.plan.batch, err: l.err, planned: l.planned }],
        families: node.networks.map((n) => n.family),
      })
    listed = false
  })
  sync.request(true)
  setInterval(() => sync.request(true), f.resync * 1000)
  repairOnDelete(node.networks, () => sync.request(true), stop.signal)
  await registry.watchLoop(stop.signal, () => sync.request())
}

/** A route deleted from the kernel inside the network is repaired at once (the resync is the backstop). */
function repairOnDelete(networks: NodeView['networks'], resync: () => void, signal: AbortSignal): void {
  let first = true
  const started = () => {
    if (first) log("watching the kernel's route changes (ip monitor route): a deleted route is repaired at once")
    first = false
    resync()
  }
  void watchRouteDeletions(
    networks,
    (ev) => {
      log(`route ${ev.dst} was deleted from the kernel: syncing now`)
      resync()
    },
    signal,
    { warn, started },
  )
}

/**
 * vxlan: the same loop (snapshot, watch, periodic full sync), programming flannel.<VNI>'s peers.
 * With DirectRouting, peers on the external interface's networks get host-gw routes instead
 * (route-direct.ts), and the gateway routes through --iface inside the network are reconciled as
 * the host-gw backend does (a peer's direct route goes when it leaves). Without it, routes on the
 * external interface are never touched, as in flannel.
 */
async function vxlanMain(f: { resync: number; once: boolean; 'dry-run': boolean }, node: NodeView, registry: PeerSource, signal: AbortSignal): Promise<void> {
  if (!node.networks.some((n) => n.family === 4)) fail('vxlan: IPv6-only networks are not supported by weft-routes yet')
  const backend = node.cfg.backend as VxlanBackend
  const { dev, vni } = vxlanDev(backend)
  const direct = backend.directRouting
  // Dual stack: IPv6 peers go on flannel-v6.<VNI>, made by the subnet writer as flannel.<VNI> is.
  const dev6 = node.networks.some((n) => n.family === 6) ? `flannel-v6.${vni}` : undefined
  for (const d of [dev, dev6]) if (d && !(await readLink(d))) fail(`vxlan device ${d} does not exist (the subnet writer creates it)`)
  const peers = new VxlanPeers(node, vni)
  const directNode: NodeView = { ...node, ifaceRoutesOnly: true, blackhole: false }
  // The interface's networks decide who is direct: read again at every sync (a renumbered
  // interface moves peers between overlay and direct without a restart).
  let ifaceNets = node.ifaceNets ?? []
  const split = async () => {
    const all = peers.compute(registry.leases)
    if (!direct) return { direct: [], overlay: all }
    ifaceNets = await readIfaceNets(node.iface).catch(() => ifaceNets)
    return splitDirect(all, ifaceNets)
  }
  if (f['dry-run']) {
    const want = await split()
    const plan = await planVxlanSync(node, dev, want.overlay)
    const plan6 = dev6 ? await planVxlanSync(node, dev6, want.overlay, 6) : undefined
    const routes = direct ? await planSync(directNode, want.direct) : undefined
    process.stdout.write(showPlan([...vxlanSteps(plan), ...(plan6 ? vxlanSteps(plan6) : []), ...(routes?.batch ? [batchStep(routes.batch)] : [])]))
    const v6 = plan6 ? `; IPv6 ${plan6.added} peers added, ${plan6.changed} changed, ${plan6.removed} removed` : ''
    log(
      `dry run: would apply ${plan.added} peers added, ${plan.changed} changed, ${plan.removed} removed${v6}${routes ? `; direct routes ${planSummary(routes)}` : ''}; nothing changed`,
    )
    return
  }
  const syncers = [new VxlanSyncer(node, dev, 4), ...(dev6 ? [new VxlanSyncer(node, dev6, 6)] : [])]
  const routes = direct ? new RouteSyncer(directNode) : undefined
  // The overlay first: a peer that turned direct loses its onlink route before its direct route
  // is written at the same destination (and the other way round, `route replace` moves it back).
  const syncAll = async () => {
    const want = await split()
    let ok = true
    for (const s of syncers) ok = (await s.sync(want.overlay)) && ok
    return (routes ? await routes.sync(want.direct, true) : true) && ok
  }
  if (f.once) {
    process.exitCode = (await syncAll()) ? 0 : 1
    return process.exit()
  }
  log(`vxlan ${dev}${direct ? ' (DirectRouting)' : ''}: watching ${registry.describe()}; full resync every ${f.resync} s`)
  let listed = true
  const sync = new Coalescer(async (full) => {
    if (full && !listed) await registry.relist().catch(() => {})
    const repair = full && !listed
    listed = false
    const t0 = performance.now()
    await syncAll()
    const outcomes: SyncOutcome[] = syncers.flatMap((s) =>
      s.last
        ? [
            {
              batch: s.last.plan.bridgeBatch + s.last.plan.ipBatch,
              err: s.last.err,
              added: s.last.plan.added,
              replaced: s.last.plan.changed,
              removed: s.last.plan.removed,
              planned: s.last.planned,
            },
          ]
        : [],
    )
    if (routes?.last) outcomes.push({ ...routes.last.plan, err: routes.last.err, planned: routes.last.planned })
    reportSync({
      full: true,
      repair,
      seconds: (performance.now() - t0) / 1000,
      peers: peerCount(registry),
      desired: outcomes.reduce((n, o) => n + o.planned, 0),
      outcomes,
      families: node.networks.map((n) => n.family),
    })
  })
  sync.request(true)
  setInterval(() => sync.request(true), f.resync * 1000)
  repairOnDelete(node.networks, () => sync.request(true), signal)
  await registry.watchLoop(signal, () => sync.request())
}

/**
 * Keep V8's young generation from growing (it doubles under allocation pressure, up to 2x16 MB):
 * each full resync at 5000 peers would otherwise raise the daemon's RSS by ~10 MB until it
 * settles above 110 MB; with this it stays under 80 MB, for ~3% more time per sync. V8 reads the
 * flag whenever it would grow the space, so setting it at run time takes effect (a node
 * command-line flag would cost ~10 ms of every start instead).
 */
function steadyHeap(): void {
  setFlagsFromString('--semi-space-growth-factor=1')
}

function checkIfaceName(name: string): string {
  if (!name) throw new UsageError('--iface is required: the external interface the peer routes go through')
  const why = ifaceNameProblem(name)
  if (why) throw new UsageError(`--iface ${JSON.stringify(name)}: ${why}`)
  return name
}

interface Local {
  network?: Cidr
  subnet?: Cidr
  ipv6Network?: Cidr
  ipv6Subnet?: Cidr
}

/** Our subnet and the network: --subnet/--network, else the subnet file the subnet writer wrote. */
function loadLocal(path: string, subnet: string, network: string, subnet6: string, network6: string): Local {
  const cidr = (flag: string, v: string, fam: 4 | 6 = 4) => {
    try {
      return parseCidr(v, fam)
    } catch (e) {
      throw new UsageError(`--${flag}: ${errText(e)}`)
    }
  }
  if (!subnet6 !== !network6) throw new UsageError('--ipv6-subnet and --ipv6-network go together')
  const out: Local = { subnet: subnet ? cidr('subnet', subnet) : undefined, network: network ? cidr('network', network) : undefined }
  if (subnet6) Object.assign(out, { ipv6Subnet: cidr('ipv6-subnet', subnet6, 6), ipv6Network: cidr('ipv6-network', network6, 6) })
  if (out.subnet && out.network) return out
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    fail(`cannot read --subnet-file ${path}: ${errText(e)} (run the subnet writer first, or give --subnet and --network)`)
  }
  let env
  try {
    env = parseSubnetEnv(text, path)
  } catch (e) {
    fail(errText(e))
  }
  return {
    subnet: out.subnet ?? env.subnet,
    network: out.network ?? env.networks[0],
    ipv6Network: out.ipv6Network ?? env.ipv6Networks[0],
    ipv6Subnet: out.ipv6Subnet ?? env.ipv6Subnet,
  }
}

/** Peer leases known to the registry (every lease but our own). */
function peerCount(registry: PeerSource): number {
  return Math.max(0, registry.leases.size - 1)
}

/** Retry fn every second while etcd cannot be reached (flannel waits the same way at start). */
async function everySecond<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof PermanentError) throw e
      // PeerRegistry has said that etcd is unreachable (once, then every 30 s).
      await sleep(1000, signal)
    }
  }
}

/** The node as the sync sees it; the config from the registry must agree with our subnet file. */
function nodeView(kind: Registry['kind'], prefix: string, iface: string, cfg: NetworkConfig, local: Local, localIps: string[]): NodeView {
  const networks: Cidr[] = []
  const own: Cidr[] = []
  if (cfg.enableIPv4 && cfg.network) {
    if (local.network && local.network.text !== cfg.network.text)
      fail(`the network in ${where(kind)} (${cfg.network.text}) differs from ours (${local.network.text}); restart the subnet writer`)
    if (!local.subnet) fail('no IPv4 subnet of our own (FLANNEL_SUBNET or --subnet)')
    networks.push(cfg.network)
    own.push(local.subnet)
  }
  if (cfg.enableIPv6 && cfg.ipv6Network) {
    if (local.ipv6Network && local.ipv6Network.text !== cfg.ipv6Network.text)
      fail(`the IPv6 network in ${where(kind)} (${cfg.ipv6Network.text}) differs from ours (${local.ipv6Network.text}); restart the subnet writer`)
    if (local.ipv6Subnet) {
      networks.push(cfg.ipv6Network)
      own.push(local.ipv6Subnet)
    } else warn('EnableIPv6 is set but our subnet file has no FLANNEL_IPV6_SUBNET: IPv6 routes are not managed (restart the subnet writer)')
  }
  if (!networks.length) fail('the network config enables no network this syncer can route')
  if (cfg.backend.type !== 'host-gw' && cfg.backend.type !== 'vxlan') warn(`the network config's backend is ${JSON.stringify(cfg.backend.type)}; only host-gw leases get routes`)
  return { prefix, iface, cfg, networks, own, localIps }
}

const where = (kind: Registry['kind']) => (kind === 'etcd' ? 'etcd' : 'net-conf.json')

/** etcd, or with --kube-subnet-mgr the Kubernetes Nodes; bad settings are usage errors. */
async function openRegistry(f: ReturnType<typeof parseFlags<typeof spec>>): Promise<Registry> {
  if (f['kube-subnet-mgr']) return await kubeRegistryFromFlags(f)
  return new EtcdRegistry(etcdFromFlags(f), f['etcd-prefix'], { log, quietUnreachable: true })
}

// Exit 3: a permanent registry error; flanneld stops instead of restarting us into it.
runMain('weft-routes', () =>
  main().catch((e) => {
    throw e instanceof PermanentError ? new FatalError(errText(e), 3) : e
  }),
)
