// What the route syncer tells flanneld after each sync (events.ts): a `synced` event with the
// counts and duration, and, when a periodic resync had to change the kernel, one `repaired`
// event and one log line per entry put back, naming it and why: between resyncs the kernel and
// the registry agreed, so anything a resync changes is drift (a route deleted by hand, a flushed
// fdb), not news from the registry, which the watch applies as it comes.
import { emit } from '../daemon/events.ts'
import { log, debug, warn } from '../core/log.ts'
import { nodeConditions, type Condition, type NodeFacts } from './conditions.ts'

/** the problems last said (one warning per change), and each condition last reported */
let saidProblem = ''
const reported = new Map<string, boolean>()

export interface SyncOutcome {
  /** the batch lines applied (`ip -batch` / `bridge -batch`), '' when nothing changed */
  batch: string
  err: string
  added: number
  replaced: number
  removed: number
  /** desired entries this sync planned */
  planned: number
}

const SHOWN = 20

export function reportSync(o: { full: boolean; repair: boolean; seconds: number; peers: number; desired: number; outcomes: SyncOutcome[]; node?: NodeFacts }): void {
  const sum = (k: 'added' | 'replaced' | 'removed') => o.outcomes.reduce((n, x) => n + x[k], 0)
  const ok = o.outcomes.every((x) => !x.err)
  const [added, replaced, removed] = [sum('added'), sum('replaced'), sum('removed')]
  // After a failed batch we cannot tell which lines took: count only what was already right.
  const present = ok ? o.desired : Math.max(0, o.desired - added - replaced)
  // A full sync makes the syncer ready, unless the node cannot carry pod traffic anyway:
  // forwarding off, bridge-nf-call-iptables off, an MTU that does not fit (conditions.ts).
  const conds = o.full && o.node ? nodeConditions(o.node) : undefined
  const problem = conds ? problemOf(conds) : ''
  if (conds) reportConditions(conds)
  if (problem && problem !== saidProblem) warn(problem)
  if (o.full) saidProblem = problem
  if (problem && o.node) watchConditions(o.node)
  emit({ event: 'synced', full: o.full, seconds: o.seconds, peers: o.peers, desired: o.desired, present, added, removed, replaced, ok, ...(problem ? { problem } : {}) })
  for (const x of o.outcomes) if (x.err) emit({ event: 'error', kind: 'apply', message: x.err })
  if (!added && !replaced && !removed && ok)
    debug(`${o.full ? 'full ' : ''}sync: kernel in line with the registry (${o.desired} desired, ${o.peers} peers), ${Math.round(o.seconds * 1000)} ms`)
  if (!o.repair) return
  const lines = o.outcomes.flatMap((x) => x.batch.split('\n').filter(Boolean))
  lines.forEach((line, i) => {
    const kind = line.startsWith('fdb ') ? 'fdb' : line.startsWith('neigh ') ? 'neigh' : 'route'
    const why = / del /.test(` ${line}`) ? 'no valid peer lease asks for it' : 'the kernel lacked it or held a different one'
    emit({ event: 'repaired', kind, what: line, why })
    if (i < SHOWN) log(`repaired ${kind} at resync: ${line} (${why})`)
  })
  if (lines.length > SHOWN) log(`repaired ${lines.length - SHOWN} more entries at resync (one event each on flanneld's channel)`)
}

const problemOf = (cs: Condition[]) =>
  cs
    .filter((c) => !c.ok)
    .map((c) => c.reason)
    .join('; ')

/** One `condition` event per condition whose state changed (all of them the first time). */
function reportConditions(cs: Condition[]): void {
  for (const c of cs) {
    if (reported.get(c.kind) === c.ok) continue
    reported.set(c.kind, c.ok)
    emit({ event: 'condition', kind: c.kind, ok: c.ok, reason: c.reason })
  }
}

// The first pod's bridge creates cni0 and turns forwarding on a moment later: a sync that lands in
// between must not leave the node unready until the next resync. While a condition fails, read
// them again every second (a few /proc and /sys reads) and say ready as soon as all hold.
let condTimer: NodeJS.Timeout | undefined
function watchConditions(node: NodeFacts): void {
  if (condTimer) return
  condTimer = setInterval(() => {
    const cs = nodeConditions(node)
    reportConditions(cs)
    const problem = problemOf(cs)
    if (problem) {
      if (problem !== saidProblem) {
        warn(problem)
        emit({ event: 'not-ready', reason: problem })
        saidProblem = problem
      }
      return
    }
    clearInterval(condTimer)
    condTimer = undefined
    if (!saidProblem) return
    saidProblem = ''
    log('the node carries pod traffic again: forwarding, bridge-nf-call-iptables and MTU in order')
    emit({ event: 'ready', detail: 'forwarding, bridge-nf-call-iptables and MTU in order' })
  }, 1000)
  condTimer.unref()
}
