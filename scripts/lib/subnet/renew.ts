// Keeping our lease (flannel's etcd CompleteLease): renew margin-before-expiry with a new grant
// and put, retry every minute on failure, and watch our own key: a PUT (ours or anyone's)
// moves the expiry to what etcd says, a DELETE (expiry, or an operator) means the lease is gone.
// weft's additions: a periodic read of the key beside the watch (subnet-lease-check.ts) for a
// watch that went silently dead, and a renewal put only while the key still exists.
import { CompactedError, EtcdError, type EtcdClient } from '../registry/etcd/client.ts'
import type { Acquired } from '../registry/etcd/lease-acquire.ts'
import { startCheck } from './lease-check.ts'

export interface KeepOpts {
  ttl: number
  marginMs: number
  signal: AbortSignal
  log: (m: string) => void
  /** delay before retrying a failed renewal (flannel: 1 min) */
  retryMs?: number
  /** how often to read our key to catch a dead watch (default 30 s; 0: never) */
  checkMs?: number
  /** told the lease's expiry (ms since epoch) whenever it moves: flanneld's lease metric */
  onExpiry?: (expiresAt: number) => void
}

export const CHECK_MS = 30_000

/** When to renew: margin before expiry, never in the past. */
export function renewDelay(expiresAt: number, marginMs: number, now = Date.now()): number {
  return Math.max(0, expiresAt - marginMs - now)
}

/**
 * Resolves 'revoked' when our key is deleted, 'stopped' when signal aborts, 'reset' when etcd came
 * back with an older revision than we had seen: its data was wiped or restored from a backup, so
 * our lease is gone with everything else, not taken from us (issue 13 item 9).
 */
export type KeepEnd = 'revoked' | 'stopped' | 'reset'
export async function keepLease(etcd: EtcdClient, lease: Acquired, o: KeepOpts): Promise<KeepEnd> {
  let expiresAt = lease.expiresAt
  let current = lease.etcdLease
  let timer: NodeJS.Timeout | undefined
  const retryMs = o.retryMs ?? 60_000
  // Ends the watch (and so this function) on a stop, or when a renewal finds our key gone.
  const end = new AbortController()
  let revoked = false
  const revoke = () => {
    revoked = true
    end.abort()
  }
  const onStop = () => end.abort()
  o.signal.addEventListener('abort', onStop, { once: true })

  const schedule = (ms: number) => {
    clearTimeout(timer)
    if (end.signal.aborted) return
    // setTimeout holds at most ~24.8 days; a lease lasts a day, so this is only a guard.
    timer = setTimeout(renew, Math.min(ms, 2 ** 31 - 1))
  }
  const renew = async () => {
    if (end.signal.aborted) return
    try {
      const id = await etcd.grant(o.ttl)
      // Only while the key still holds our value: a renewal racing an operator's DELETE must not
      // write it back, nor overwrite a node that took the subnet after our lease expired.
      if (!(await etcd.putIfPresent(lease.key, lease.value, id, lease.value))) {
        await etcd.revoke(id).catch(() => {})
        if (!end.signal.aborted) o.log(`Our lease ${lease.subnet.text} (${lease.key}) is gone or no longer ours at renewal time; not writing it`)
        return revoke()
      }
      const old = current
      current = id
      expiresAt = Date.now() + o.ttl * 1000
      if (old !== '0' && old !== id) await etcd.revoke(old).catch(() => {})
      o.log(`Renewed lease ${lease.subnet.text} (etcd lease ${id}, expires ${new Date(expiresAt).toISOString()})`)
      o.onExpiry?.(expiresAt)
      schedule(renewDelay(expiresAt, o.marginMs))
    } catch (e) {
      o.log(`Error renewing lease (trying again in ${Math.round(retryMs / 1000)} s): ${(e as Error).message}`)
      schedule(retryMs)
    }
  }
  o.onExpiry?.(expiresAt)
  // A reservation has no etcd lease to renew: only the watch (an operator deleting it) applies.
  if (lease.etcdLease !== '0') schedule(renewDelay(expiresAt, o.marginMs))

  // The last revision at which we saw our key, and the revision that created it.
  let known: { rev: number; create: number } | undefined
  try {
    const watched = await watchOwnKey(
      etcd,
      lease.key,
      { ...o, signal: end.signal },
      revoke,
      (rev, create) => (known = { rev, create }),
      async (etcdLease) => {
        // A PUT: reset the expiry from the lease now attached (ours after a renewal, or another writer's).
        if (etcdLease === '0') return
        current = etcdLease
        const left = await etcd.timeToLive(etcdLease).catch(() => -1)
        if (left > 0) {
          expiresAt = Date.now() + left * 1000
          o.onExpiry?.(expiresAt)
          schedule(renewDelay(expiresAt, o.marginMs))
        }
      },
    )
    const why = revoked ? 'revoked' : watched
    // Gone: taken from us, or lost with the rest of etcd's data? (see historyLost)
    if (why === 'revoked' && !o.signal.aborted && (await historyLost(etcd, lease.key, known))) return 'reset'
    return why
  } finally {
    clearTimeout(timer)
    o.signal.removeEventListener('abort', onStop)
    end.abort() // a renewal still in flight stops rescheduling itself
  }
}

/**
 * Whether our key went missing with the rest of etcd's data (wiped, or restored from an older
 * backup) rather than being deleted. A revision lower than ours says so, but a new cluster busy
 * enough to pass our revision before we reconnect does not: its revision looks like ours, and its
 * cluster and member IDs too (etcd derives them from the peer URLs and the cluster token, so a
 * member restarted empty with the same flags keeps them). History does tell: in the cluster we
 * knew, our key existed at the revision we last saw it, created at the revision we saw; a new
 * cluster has no such key at that revision (or says the revision is in its future). A compacted
 * revision cannot tell: then it counts as deleted, as before.
 */
export async function historyLost(etcd: Pick<EtcdClient, 'get'>, key: string, known: { rev: number; create: number } | undefined): Promise<boolean> {
  if (!known) return false
  try {
    const then = await etcd.get(key, known.rev)
    return !then || then.createRevision !== known.create
  } catch (e) {
    return e instanceof EtcdError && /future revision/.test(e.message)
  }
}

/**
 * Watch key until it is deleted ('revoked') or signal aborts ('stopped'; the caller tells a stop
 * from revoke() having been called). Reconnects after errors, from the last revision seen.
 */
async function watchOwnKey(
  etcd: EtcdClient,
  key: string,
  o: KeepOpts,
  revoke: () => void,
  seen: (rev: number, create: number) => void,
  onPut: (lease: string) => Promise<void>,
): Promise<KeepEnd> {
  let rev = 0
  let recheck = false
  let backoff = 100
  let complained = false
  let watching: AbortController | undefined
  let reread = false
  const checkMs = o.checkMs ?? CHECK_MS
  const stopCheck =
    checkMs > 0
      ? startCheck((k) => etcd.get(k), key, checkMs, {
          delivered: () => (watching ? rev : undefined),
          // Absent key: the DELETE the watch should have brought (flannel's "revoked").
          gone: revoke,
          stalled: (mod, seen) => {
            if (!watching) return
            o.log(`the watch on our lease had stalled (our key is at revision ${mod}, the watch delivered up to ${seen}); restarting it`)
            // The new watch resumes from the last revision delivered: it replays what the dead one
            // missed, in order (a DELETE then a re-create by someone else is still our DELETE).
            watching.abort()
          },
        })
      : () => {}
  try {
    for (;;) {
      if (o.signal.aborted) return 'stopped'
      let gone = false
      try {
        if (!rev || recheck) {
          // (Re)start from a read: if the key is already gone, we are done. After a lost watch,
          // read again too: an etcd that came back with a lower revision is a new cluster (wiped),
          // and a watch from our old revision would wait there forever for nothing.
          const { kvs, revision } = await etcd.list(key)
          if (recheck && revision < rev) return 'reset'
          recheck = false
          const kv = kvs.find((k) => k.key === key)
          if (!kv) return 'revoked'
          seen(revision, kv.createRevision)
          // Events were lost (compaction): take the lease now attached as if its PUT had come.
          if (reread) void onPut(kv.lease)
          reread = true
          rev = revision
        }
        if (complained) {
          // Only claim success once etcd answers again (a read), not on every reconnect attempt.
          await etcd.get(key)
          o.log('etcd is back; watching our lease again')
          complained = false
        }
        const ac = new AbortController()
        const stop = () => ac.abort()
        o.signal.addEventListener('abort', stop, { once: true })
        watching = ac
        try {
          await etcd.watch(
            key,
            rev + 1,
            (ev) => {
              if (ev.kv.key !== key) return
              rev = ev.revision
              backoff = 100
              if (ev.type === 'DELETE') {
                gone = true
                ac.abort()
              } else {
                seen(ev.revision, ev.kv.createRevision)
                void onPut(ev.kv.lease)
              }
            },
            ac.signal,
          )
        } finally {
          watching = undefined
          o.signal.removeEventListener('abort', stop)
        }
        if (gone) return 'revoked'
      } catch (e) {
        watching = undefined
        if (gone) return 'revoked'
        if (e instanceof CompactedError) {
          rev = 0 // re-read the key
          continue
        }
        if (!complained) o.log(`lost the watch on our lease (retrying): ${(e as Error).message}`)
        complained = true
        recheck = rev > 0
        await sleep(backoff, o.signal)
        backoff = Math.min(backoff * 2, 5000)
      }
    }
  } finally {
    stopCheck()
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      r()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
