// One sync of the host-gw routes: the registry's leases -> desired routes (each lease parsed and
// checked once per revision, each bad one warned about once), the kernel's managed routes read,
// the difference applied in one `ip -batch -`. A Coalescer runs syncs one at a time: a burst of
// watch events while a sync runs becomes a single next sync.
import type { KV } from './etcd.ts'
import { parseLease, peerProblem } from './lease.ts'
import type { NetworkConfig } from './netconfig.ts'
import { sameCidr, type Cidr, type Family } from './cidr.ts'
import { managedRoutes, planRoutes, planSummary, type DesiredRoute, type RoutePlan } from './route-plan.ts'
import { readRoutes, applyBatch } from './route-kernel.ts'
import { log, warn, errText } from './log.ts'

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

  compute(leases: Map<string, KV>): DesiredRoute[] {
    const out: DesiredRoute[] = []
    for (const kv of leases.values()) {
      let v = this.verdicts.get(kv.key)
      if (!v || v.modRevision !== kv.modRevision || v.value !== kv.value) {
        v = this.judge(kv)
        this.verdicts.set(kv.key, v)
        if (v.skip) warn(`ignoring lease ${kv.key}: ${v.skip}`)
      }
      out.push(...v.routes)
    }
    for (const k of this.verdicts.keys()) if (!leases.has(k)) this.verdicts.delete(k)
    return out
  }

  private judge(kv: KV): Verdict {
    const v: Verdict = { modRevision: kv.modRevision, value: kv.value, routes: [] }
    const { node } = this
    try {
      const l = parseLease(node.prefix, kv)
      if (node.localIps.includes(l.publicIp.text) && node.own.some((o) => sameCidr(o, l.subnet))) {
        v.skip = '' // our own lease
        return v
      }
      if (l.backendType !== 'host-gw') {
        v.skip = `backend type ${JSON.stringify(l.backendType)}, this syncer routes host-gw peers only`
        return v
      }
      const problem = peerProblem(l, node.cfg, node.own.find((o) => o.family === 4))
      if (problem) {
        v.skip = problem
        return v
      }
      if (node.localIps.includes(l.publicIp.text)) {
        v.skip = `its PublicIP ${l.publicIp.text} is this node's, but the subnet is not ours`
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
export async function planSync(node: NodeView, desired: DesiredRoute[]): Promise<RoutePlan> {
  const families = [...new Set(node.networks.map((n) => n.family))]
  const actual = (await Promise.all(families.map((f) => readRoutes(f)))).flat()
  const managed = managedRoutes(actual, { networks: node.networks, own: node.own })
  return planRoutes(desired, managed, node.iface)
}

let lastError = ''
/** Plan and apply; one log line when something changed. Returns false when a line failed. */
export async function syncRoutes(node: NodeView, desired: DesiredRoute[]): Promise<boolean> {
  const plan = await planSync(node, desired)
  if (plan.batch === '') {
    lastError = ''
    return true
  }
  const err = await applyBatch(plan.batch)
  log(`routes: ${planSummary(plan)} (${desired.length} peer routes)${err ? ', with errors' : ''}`)
  // The same failure every resync (a peer whose gateway is not on-link) is said once.
  if (err && err !== lastError) warn(err)
  lastError = err ?? ''
  return !err
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
