// The route syncer's one loop, whatever the backend (host-gw, vxlan: backend.ts). The peers come
// from the registry (PeerSource: listed, then watched); peers.ts decides which leases are valid
// peers; the backend turns them into kernel entries and applies them. Syncs run one at a time
// (Coalescer): a burst of watch events while one runs becomes a single next sync. A full sync
// (re-list, whole kernel read) runs at start, every --resync seconds as the backstop, and at once
// when the kernel's route monitor sees a route of ours deleted. Each sync is reported to flanneld
// (sync-report.ts).
import { showPlan } from '../core/plan.ts'
import { log, warn, errText } from '../core/log.ts'
import { PermanentError, type PeerSource } from '../registry/registry.ts'
import { sleep } from '../registry/etcd/peers.ts'
import type { Backend } from './backend.ts'
import { PeerVerdicts, type NodeView } from './peers.ts'
import { watchRouteDeletions } from './monitor.ts'
import { reportSync } from './sync-report.ts'
import type { NodeFacts } from './conditions.ts'

export interface ReconcileOpts {
  /** seconds between full resyncs */
  resync: number
  /** one full sync, then return whether every batch went in */
  once: boolean
  /** print the plan of one sync, change nothing */
  dryRun: boolean
  /** subnet.env, for the MTU condition reported with every full sync (conditions.ts) */
  subnetFile?: string
}

/**
 * Run the loop until signal aborts (the registry's peers already listed: listWithRetry). With
 * --once or --dry-run, one sync or one plan; returns whether every batch went in.
 */
export async function reconcile<D>(backend: Backend<D>, node: NodeView, registry: PeerSource, o: ReconcileOpts, signal: AbortSignal): Promise<boolean> {
  const peers = new PeerVerdicts(
    node,
    backend.type,
    (l) => backend.desire(l),
    (d) => backend.keyOf(d),
  )
  if (o.dryRun) {
    const plan = await backend.plan(peers.compute(registry.leases).want)
    process.stdout.write(showPlan(plan.steps))
    log(`dry run: would apply ${plan.summary}; nothing changed`)
    return true
  }
  if (o.once) {
    const done = await backend.sync(peers.compute(registry.leases).want, true)
    return !done || done.outcomes.every((x) => !x.err)
  }

  log(`${backend.what ? `${backend.what}: ` : ''}watching ${registry.describe()}; full resync every ${o.resync} s`)
  // What else the node needs to carry pod traffic, checked with every full sync (conditions.ts).
  const facts: NodeFacts = { families: node.networks.map((n) => n.family), iface: node.iface, backend: node.cfg.backend, subnetFile: o.subnetFile ?? '' }
  let listed = true // the first full sync uses the list just read
  const sync = new Coalescer(async (full) => {
    // When the registry is down, it says so once; the kernel is still repaired below.
    if (full && !listed) await registry.relist().catch(() => {})
    const repair = full && !listed
    listed = false
    const t0 = performance.now()
    const { want, touched } = peers.compute(registry.leases)
    const done = await backend.sync(want, full, touched)
    if (done)
      reportSync({
        full: done.full,
        repair,
        seconds: (performance.now() - t0) / 1000,
        peers: Math.max(0, registry.leases.size - 1), // every lease but our own
        desired: want.length,
        outcomes: done.outcomes,
        node: facts,
      })
  })
  sync.request(true)
  setInterval(() => sync.request(true), o.resync * 1000)
  repairOnDelete(node, () => sync.request(true), signal)
  await registry.watchLoop(signal, () => sync.request())
  return true
}

/** The registry's first list, retried every second while it cannot be reached (flannel waits the same way at start). */
export async function listWithRetry(registry: PeerSource, signal: AbortSignal): Promise<void> {
  for (;;) {
    try {
      return await registry.relist()
    } catch (e) {
      if (e instanceof PermanentError) throw e
      // The registry has said that it is unreachable (once, then every 30 s).
      await sleep(1000, signal)
    }
  }
}

/** A route deleted from the kernel inside the network is repaired at once (the resync is the backstop). */
function repairOnDelete(node: NodeView, resync: () => void, signal: AbortSignal): void {
  let first = true
  const started = () => {
    if (first) log("watching the kernel's route changes (ip monitor route): a deleted route is repaired at once")
    first = false
    resync()
  }
  void watchRouteDeletions(
    node.networks,
    (ev) => {
      log(`route ${ev.dst} was deleted from the kernel: syncing now`)
      resync()
    },
    signal,
    { warn, started },
  )
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
