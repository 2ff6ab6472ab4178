// weft-routes: the route syncer. host-gw: one route `<peer subnet> via <peer public IP> dev
// <iface>` per valid peer lease, and no other gateway route inside the cluster network; vxlan: each
// peer's neighbour, fdb entry and onlink route on flannel.<VNI>. This file reads what a sync needs
// at start, picks the backend (routes/hostgw/backend.ts, routes/vxlan/backend.ts) and hands both to
// the one loop (routes/reconcile.ts): a watch on the peers plus a periodic full resync that
// repairs drift. See docs/route-syncer.md.
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { parseFlags, helpText, UsageError } from './lib/core/flags.ts'
import { ROUTES_SPEC } from './lib/routes/flags.ts'
import { runMain, fail, FatalError } from './lib/core/cli.ts'
import { log, warn, errText } from './lib/core/log.ts'
import { exitWithSupervisor, holdLock } from './lib/core/part-guard.ts'
import { parseCidr, type Cidr } from './lib/net/cidr.ts'
import { ifaceNameProblem } from './lib/net/iface.ts'
import { parseSubnetEnv } from './lib/formats/subnet-env.ts'
import { etcdFromFlags } from './lib/registry/etcd/flags.ts'
import type { NetworkConfig } from './lib/formats/net-conf.ts'
import { EtcdRegistry } from './lib/registry/etcd/registry.ts'
import { kubeRegistryFromFlags } from './lib/registry/kube/flags.ts'
import { PermanentError, type Registry } from './lib/registry/registry.ts'
import { applyBatch, prepareBatch, readIfaceAndRoutes } from './lib/routes/kernel.ts'
import type { NodeView } from './lib/routes/peers.ts'
import type { Backend } from './lib/routes/backend.ts'
import { hostGwBackend } from './lib/routes/hostgw/backend.ts'
import { openVxlanBackend } from './lib/routes/vxlan/backend.ts'
import { listWithRetry, reconcile } from './lib/routes/reconcile.ts'
import { startHeartbeat } from './lib/daemon/events.ts'

const spec = ROUTES_SPEC

const summary = `Keep this node's host-gw routes to every peer subnet in etcd: one
"<peer subnet> via <peer PublicIP> dev <iface>" per valid host-gw lease, applied as one
ip -batch. Gateway routes inside the cluster network that match no lease are removed; routes
outside the network, and routes without a gateway, are never touched. SIGTERM leaves routes.
With "Backend":{"Type":"vxlan"}: per vxlan peer, its neighbour, fdb entry and onlink route on
flannel.<VNI> (made by the subnet writer), as one bridge -batch and one ip -batch.`

async function main(): Promise<number | void> {
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
  const etcdRead = Promise.all([reg.config(stop.signal).then((c) => c ?? process.exit(0)), listWithRetry(registry, stop.signal)])
  const start = await readIfaceAndRoutes(iface)
  if (!start.addrs) fail(`--iface ${iface}: no such interface`)
  // The first sync's ip, forked now (small heap, cheap fork) rather than after planning.
  const prepared = f['dry-run'] ? undefined : prepareBatch()
  const readAt = Date.now()
  const [cfg] = await etcdRead
  const node = { ...nodeView(reg.kind, f['etcd-prefix'], iface, cfg, local, start.addrs), blackhole: f['ip-blackhole-route'], ifaceNets: start.nets }
  let backend: Backend<unknown>
  if (cfg.backend.type === 'vxlan') {
    if (prepared) await applyBatch('', prepared) // host-gw's, not needed: let it exit
    backend = await openVxlanBackend(node)
  } else {
    // The start's read of the IPv4 routes, if still fresh, is the first sync's kernel.
    const kernel = Date.now() - readAt < 1000 && node.networks.every((n) => n.family === 4) ? start.routes : undefined
    backend = hostGwBackend(node, { prepared, kernel, warm: !f.once && !f['dry-run'] })
  }
  const ok = await reconcile(backend, node, registry, { resync: f.resync, once: f.once, dryRun: f['dry-run'], subnetFile: f['subnet-file'] }, stop.signal)
  if (!f.once) return
  reg.close()
  return ok ? 0 : 1
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
