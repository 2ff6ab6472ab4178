// What the route syncer's one loop (reconcile.ts) asks of a backend (hostgw/backend.ts,
// vxlan/backend.ts): what a valid peer lease asks of the kernel, a plan against the kernel for
// --dry-run, and a sync that reads the kernel, plans and applies one batch per tool. The loop owns
// everything else: the peers (listed, then watched), which lease is a valid peer (peers.ts),
// coalescing, the kernel monitor, the periodic resync, and what is reported.
import type { Lease } from '../formats/lease.ts'
import type { Plan } from '../core/plan.ts'
import type { Desire } from './peers.ts'
import type { SyncOutcome } from './sync-report.ts'

export interface Backend<D> {
  /** the lease BackendType this backend serves: "host-gw", "vxlan" */
  readonly type: string
  /** what the start line names before "watching ...", '' for nothing (host-gw) */
  readonly what: string
  /** what a valid peer's lease asks for, and why it gives nothing or only part of it */
  desire(l: Lease): Desire<D>
  /** the key a watch event's change is tracked by (the destination) */
  keyOf(d: D): string
  /** read the kernel and plan, change nothing: --dry-run's steps, and its counts in words */
  plan(want: D[]): Promise<Plan & { summary: string }>
  /**
   * Make the kernel match `want`: all of it when full, else only the `touched` keys when the
   * backend knows what its last batch left. Logs what it changed; the outcome of each batch, or
   * undefined when there was nothing to plan (a watch event that changed no entry).
   */
  sync(want: D[], full: boolean, touched?: Set<string>): Promise<Synced | undefined>
}

export interface Synced {
  /** whether the sync counts as a full one (read the whole kernel state it keeps) */
  full: boolean
  outcomes: SyncOutcome[]
}
