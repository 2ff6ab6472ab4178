// One sync of the host-gw routes: the registry's leases -> desired routes (each lease parsed and
// checked once per revision, each bad one warned about once), the kernel's managed routes read,
// the difference applied in one `ip -batch -`. A Coalescer runs syncs one at a time: a burst of
// watch events while a sync runs becomes a single next sync.
import type { PeerRecord as KV } from '../../registry/registry.ts'
import { parseLease, peerProblem } from '../../formats/lease.ts'
import type { NetworkConfig } from '../../formats/net-conf.ts'
import { sameCidr, type Cidr, type Family } from '../../net/cidr.ts'
import { defaultMetric, managedRoutes, planRoutes, planSummary, type DesiredRoute, type KernelRoute, type RoutePlan } from './plan.ts'
import { readRoutes, applyBatch, prepareBatch, type PreparedBatch } from '../kernel.ts'
import { blackholeLines } from '../blackhole.ts'
import { log, warn, errText } from '../../core/log.ts'

export interface NodeView {
  prefix: string
  iface: string
  cfg: NetworkConfig
  /** cluster networks, one per enabled family */
  networks: Cidr[]
  /** our own subnet(s) */
  own: Cidr[]
  /** the external interface's addresses: a lease naming one of them is this node's */
  localIps: string[]
  /** --ip-blackhole-route: keep a blackhole route for each own subnet (route-blackhole.ts) */
  blackhole?: boolean
  /** the external interface's connected IPv4 networks (vxlan DirectRouting) */
  ifaceNets?: Cidr[]
  /** manage only the gateway routes through --iface (vxlan DirectRouting's direct routes) */
  ifaceRoutesOnly?: boolean
}

interface Verdict {
  modRevision: number
  value: string
  routes: DesiredRoute[]
  /** why the lease gives no route (logged once), '' when it is silently skipped (our own) */
  skip?: string
}

/** Leases -> desired routes, remembering each key's verdict until its value changes. */
export class DesiredRoutes {
  private verdicts = new Map<string, Verdict>()
  constructor(private readonly node: NodeView) {}

  /**
   * All desired routes, and the destinations whose routes changed since the last call (a lease
   * put, changed or deleted): a sync for a watch event only needs to look at those.
   */
  compute(leases: Map<string, KV>): { routes: DesiredRoute[]; touched: Set<string> } {
    const routes: DesiredRoute[] = []
    const touched = new Set<string>()
    for (const kv of leases.values()) {
      let v = this.verdicts.get(kv.key)
      if (!v || v.modRevision !== kv.modRevision || v.value !== kv.value) {
        for (const r of v?.routes ?? []) touched.add(r.dst.text)
        v = this.judge(kv)
        for (const r of v.routes) touched.add(r.dst.text)
        this.verdicts.set(kv.key, v)
        if (v.skip) warn(`ignoring lease ${kv.key}: ${v.skip}`)
      }
      for (const r of v.routes) routes.push(r)
    }
    if (this.verdicts.size > leases.size) {
      for (const [k, v] of this.verdicts) {
        if (leases.has(k)) continue
        for (const r of v.routes) touched.add(r.dst.text)
        this.verdicts.delete(k)
      }
    }
    return { routes, touched }
  }

  private judge(kv: KV): Verdict {
    const v: Verdict = { modRevision: kv.modRevision, value: kv.value, routes: [] }
    const { node } = this
    try {
      const l = parseLease(kv.prefix ?? node.prefix, kv)
      if (node.localIps.includes(l.publicIp.text) && node.own.some((o) => sameCidr(o, l.subnet))) {
        v.skip = '' // our own lease
        return v
      }
      if (l.backendType !== 'host-gw') {
        v.skip = `backend type ${JSON.stringify(l.backendType)}, this syncer routes host-gw peers only`
        return v
      }
      const problem = peerProblem(
        l,
        node.cfg,
        node.own.find((o) => o.family === 4),
        node.own.find((o) => o.family === 6),
      )
      if (problem) {
        v.skip = problem
        return v
      }
      if (node.localIps.includes(l.publicIp.text)) {
        v.skip = `its PublicIP ${l.publicIp.text} is this node's, but the subnet is not ours`
        return v
      }
      if (l.publicIpv6 && l.ipv6Subnet && node.localIps.includes(l.publicIpv6.text)) {
        v.skip = `its PublicIPv6 ${l.publicIpv6.text} is this node's, but the subnet is not ours`
        return v
      }
      const fam = (f: Family) => node.networks.some((n) => n.family === f)
      if (fam(4)) v.routes.push({ dst: l.subnet, gateway: l.publicIp })
      if (fam(6) && l.ipv6Subnet && l.publicIpv6) v.routes.push({ dst: l.ipv6Subnet, gateway: l.publicIpv6 })
    } catch (e) {
      // parseLease's reasons already start with "lease <key>: "; the warning names the key once.
      v.skip = errText(e).replace(`lease ${kv.key}: `, '')
    }
    return v
  }
}

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

/** Runs fn one call at a time; requests made while it runs collapse into one more call. */
export class Coalescer {
  private running = false
  private queued = false
  private full = false
  constructor(private readonly fn: (full: boolean) => Promise<void>) {}

  request(full = false): void {
    this.full ||= full
    if (this.queued) return
    this.queued = true
    // setImmediate: every event of the watch message being read lands in this one run.
    if (!this.running) setImmediate(() => void this.loop())
  }

  private async loop(): Promise<void> {
    if (this.running) return
    this.running = true
    while (this.queued) {
      this.queued = false
      const full = this.full
      this.full = false
      try {
        await this.fn(full)
      } catch (e) {
        warn(`sync failed: ${errText(e)}`)
      }
    }
    this.running = false
  }
}
