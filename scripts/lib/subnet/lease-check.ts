// The liveness check beside the watch on our own lease key (weft's addition; flannel has none).
// A watch whose TCP connection went half-open (a partition that heals, a lost NAT/conntrack
// entry, an etcd host rebooted behind a firewall that drops instead of resetting) stays "open"
// with no events until TCP keepalive gives up (~11 min with kernel defaults), so an operator's
// DELETE of our key would go unnoticed that long. A cheap read of the key every checkMs catches
// both: the key gone (treated as the watch's DELETE) and a key changed after the last event
// the watch delivered (the watch is stalled: restart it).
import type { KV } from '../registry/etcd/client.ts'

export type Verdict = 'ok' | 'gone' | 'suspect' | 'stalled'

/**
 * What one read of our key says. delivered: the last revision the running watch delivered (or
 * started from); undefined while no watch runs (its reconnect resumes from there anyway).
 * A key newer than the watch is only 'suspect' the first time: our own renewal's put may simply
 * be on its way to us. Still undelivered at the next check, it is 'stalled'.
 */
export function judge(kv: Pick<KV, 'modRevision'> | undefined, delivered: number | undefined, suspect: number): { verdict: Verdict; suspect: number } {
  if (!kv) return { verdict: 'gone', suspect: 0 }
  if (delivered === undefined || kv.modRevision <= delivered) return { verdict: 'ok', suspect: 0 }
  if (suspect && delivered < suspect) return { verdict: 'stalled', suspect: 0 }
  return { verdict: 'suspect', suspect: kv.modRevision }
}

export interface CheckHooks {
  /** the last revision the running watch delivered, undefined while none runs */
  delivered: () => number | undefined
  gone: () => void
  stalled: (modRevision: number, delivered: number) => void
}

/**
 * Read key every checkMs (one read at a time: a slow read delays the next, never piles up) and
 * report through hooks. A failed read does nothing: the watch's own error path reports outages.
 * Returns a function that stops it; no timer survives that call.
 */
export function startCheck(get: (key: string) => Promise<KV | undefined>, key: string, checkMs: number, hooks: CheckHooks): () => void {
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let suspect = 0
  const next = () => {
    if (!stopped) timer = setTimeout(tick, checkMs)
  }
  const tick = async () => {
    let kv: KV | undefined
    try {
      kv = await get(key)
    } catch {
      return next()
    }
    if (stopped) return
    const delivered = hooks.delivered()
    const v = judge(kv, delivered, suspect)
    suspect = v.suspect
    if (v.verdict === 'gone') return hooks.gone()
    if (v.verdict === 'stalled') hooks.stalled(kv!.modRevision, delivered!)
    next()
  }
  next()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
