// The host-gw side of the route syncer: what a valid peer lease asks for (one gateway route per
// family), and RouteSyncer, which applies desired routes as one `ip -batch -`: a full sync reads
// the kernel, a sync for a watch event plans only the destinations that changed. The loop that
// drives it is reconcile.ts; hostgw/backend.ts plugs this into it.
import type { PeerRecord as KV } from '../../registry/registry.ts'
import type { Lease } from '../../formats/lease.ts'
import type { Family } from '../../net/cidr.ts'
import { defaultMetric, managedRoutes, planRoutes, planSummary, type DesiredRoute, type KernelRoute, type RoutePlan } from './plan.ts'
import { readRoutes, applyBatch, prepareBatch, type PreparedBatch } from '../kernel.ts'
import { blackholeLines } from '../blackhole.ts'
import { log, warn } from '../../core/log.ts'
import { PeerVerdicts, type Desire, type NodeView } from '../peers.ts'

export type { NodeView }

/** A valid host-gw peer's routes: its subnet via its PublicIP, per family this node routes. */
export function hostGwRoutes(node: NodeView, l: Lease): Desire<DesiredRoute> {
  const want: DesiredRoute[] = []
  const fam = (f: Family) => node.networks.some((n) => n.family === f)
  if (fam(4)) want.push({ dst: l.subnet, gateway: l.publicIp })
  if (fam(6) && l.ipv6Subnet && l.publicIpv6) want.push({ dst: l.ipv6Subnet, gateway: l.publicIpv6 })
  return { want, why: '' }
}

/** Leases -> desired routes (peers.ts judges each lease once per value), and the destinations touched since the last call. */
export class DesiredRoutes {
  private readonly verdicts: PeerVerdicts<DesiredRoute>
  constructor(node: NodeView) {
    this.verdicts = new PeerVerdicts(node, 'host-gw', (l) => hostGwRoutes(node, l), routeKey)
  }

  compute(leases: Map<string, KV>): { routes: DesiredRoute[]; touched: Set<string> } {
    const { want, touched } = this.verdicts.compute(leases)
    return { routes: want, touched }
  }
}

export const routeKey = (d: DesiredRoute) => d.dst.text

/** Read the kernel and plan; no change made. */
export async function planSync(node: NodeView, desired: DesiredRoute[], kernel?: KernelRoute[]): Promise<RoutePlan> {
  return (await planFull(node, desired, kernel)).plan
}

/**
 * A full sync's plan, against `kernel` when the caller has just read it, else the kernel read
 * now: every peer route, and with --ip-blackhole-route the blackhole route of each own subnet.
 */
async function planFull(node: NodeView, desired: readonly DesiredRoute[], kernel?: KernelRoute[]): Promise<{ plan: RoutePlan; managed: KernelRoute[] }> {
  const families = [...new Set(node.networks.map((n) => n.family))]
  const actual = kernel ?? (await Promise.all(families.map((f) => readRoutes(f)))).flat()
  const managed = managedRoutes(actual, { networks: node.networks, own: node.own, dev: node.ifaceRoutesOnly ? node.iface : undefined })
  const plan = planRoutes(desired, managed, node.iface)
  if (node.blackhole) {
    const lines = blackholeLines(actual, node.own)
    plan.batch += lines.map((l) => l + '\n').join('')
    plan.blackholes = lines.length
  }
  return { plan, managed }
}

/**
 * Applies desired routes. A full sync reads the kernel and plans every destination; a sync for
 * a watch event plans only the destinations whose leases changed, against what the last clean
 * batch left (the managed routes then equal the desired ones exactly): one spawn and O(changes)
 * work per update, even with 5000 peers. Drift made by hand meanwhile is found by the next full
 * sync (every --resync seconds; flannel's check interval is 10 s).
 */
export class RouteSyncer {
  /** managed kernel routes by destination, as the last batch left them; undefined = read the kernel */
  private model?: Map<string, KernelRoute[]>
  private lastError = ''
  /** the last sync's plan and outcome (for flanneld's events: sync-report.ts) */
  last?: { plan: RoutePlan; err: string; planned: number }
  /**
   * @param prepared an `ip -batch` already started for the first sync (prepareBatch)
   * @param warm a daemon's: after each batch, start the next one's `ip` at once, so a watch event's
   *   sync writes to a process already running (a spawn through sh costs 10-100+ ms on a loaded
   *   host, most of an event's latency); one idle `ip` waits on its stdin meanwhile and ends with us
   */
  constructor(
    private readonly node: NodeView,
    private prepared?: PreparedBatch,
    private readonly warm = false,
  ) {}

  /**
   * Plan and apply; one log line when something changed. Returns false when a line failed.
   * Not full: only the touched destinations are planned, against the model (O(changes)).
   */
  async sync(desired: DesiredRoute[], full: boolean, touched?: Set<string>, kernel?: KernelRoute[]): Promise<boolean> {
    this.last = undefined
    const partial = !full && this.model !== undefined && touched !== undefined
    if (partial && touched.size === 0) return true
    const want = partial ? desired.filter((d) => touched.has(d.dst.text)) : desired
    let managed: KernelRoute[], plan: RoutePlan
    if (partial) {
      managed = [...touched].flatMap((t) => this.model!.get(t) ?? [])
      plan = planRoutes(want, managed, this.node.iface)
    } else ({ managed, plan } = await planFull(this.node, want, kernel))
    const prepared = this.prepared
    this.prepared = undefined
    this.last = { plan, err: '', planned: want.length }
    if (plan.batch === '') {
      // A warm `ip` not needed yet is kept for the next batch; otherwise let it exit.
      if (prepared && this.warm) this.prepared = prepared
      else if (prepared) await applyBatch('', prepared)
      if (!partial) this.model = byDst(managed)
      this.lastError = ''
      return true
    }
    const model = this.model
    this.model = undefined
    const err = await applyBatch(plan.batch, prepared)
    if (this.warm) this.prepared = quiet(prepareBatch())
    this.last.err = err ?? ''
    log(`routes: ${planSummary(plan)} (${desired.length} peer routes)${err ? ', with errors' : ''}`)
    // The same failure every resync (a peer whose gateway is not on-link) is said once.
    if (err && err !== this.lastError) warn(err)
    this.lastError = err ?? ''
    if (err) return false
    // After a clean batch the managed routes at the planned destinations are exactly `want`.
    if (partial) {
      for (const t of touched) model!.delete(t)
      for (const w of want) model!.set(w.dst.text, [asKernel(w, this.node.iface)])
      this.model = model
    } else this.model = byDst(want.map((w) => asKernel(w, this.node.iface)))
    return true
  }
}

/** A started batch nobody may await for a while: its failure is seen when it is used, not as an unhandled rejection. */
function quiet(p: PreparedBatch): PreparedBatch {
  p.catch(() => {})
  return p
}

function byDst(routes: KernelRoute[]): Map<string, KernelRoute[]> {
  const m = new Map<string, KernelRoute[]>()
  for (const r of routes) {
    const l = m.get(r.dst.text)
    if (l) l.push(r)
    else m.set(r.dst.text, [r])
  }
  return m
}

function asKernel(d: DesiredRoute, iface: string): KernelRoute {
  return { dst: d.dst, gateway: d.gateway, dev: iface, metric: defaultMetric(d.dst.family), multipath: false, type: 'unicast' }
}
