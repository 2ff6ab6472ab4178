// What the route syncer tells flanneld after each sync (events.ts): a `synced` event with the
// counts and duration, and, when a periodic resync had to change the kernel, one `repaired`
// event and one log line per entry put back, naming it and why: between resyncs the kernel and
// the registry agreed, so anything a resync changes is drift (a route deleted by hand, a flushed
// fdb), not news from the registry, which the watch applies as it comes.
import { emit } from '../daemon/events.ts'
import { log, debug, warn } from '../core/log.ts'
import { forwardingProblem } from './forwarding.ts'
import type { Family } from '../net/cidr.ts'

let saidFwd = ''

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

export function reportSync(o: { full: boolean; repair: boolean; seconds: number; peers: number; desired: number; outcomes: SyncOutcome[]; families?: Family[] }): void {
  const sum = (k: 'added' | 'replaced' | 'removed') => o.outcomes.reduce((n, x) => n + x[k], 0)
  const ok = o.outcomes.every((x) => !x.err)
  const [added, replaced, removed] = [sum('added'), sum('replaced'), sum('removed')]
  // After a failed batch we cannot tell which lines took: count only what was already right.
  const present = ok ? o.desired : Math.max(0, o.desired - added - replaced)
  // A full sync makes the syncer ready, unless the node does not forward (forwarding.ts).
  const problem = o.full && o.families ? forwardingProblem(o.families) : ''
  if (problem && problem !== saidFwd) warn(problem)
  if (o.full) saidFwd = problem
  if (problem && o.families) watchForwarding(o.families)
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

// The first pod's bridge creates cni0 and turns forwarding on a moment later: a sync that lands in
// between must not leave the node unready until the next resync. While forwarding is off, read it
// again every second (one /proc read) and say ready as soon as it is on.
let fwdTimer: NodeJS.Timeout | undefined
function watchForwarding(families: Family[]): void {
  if (fwdTimer) return
  fwdTimer = setInterval(() => {
    if (forwardingProblem(families)) return
    clearInterval(fwdTimer)
    fwdTimer = undefined
    if (!saidFwd) return
    saidFwd = ''
    log('forwarding is on now')
    emit({ event: 'ready', detail: 'forwarding is on' })
  }, 1000)
  fwdTimer.unref()
}
