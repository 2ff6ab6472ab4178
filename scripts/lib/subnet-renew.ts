// Keeping our lease (flannel's etcd CompleteLease): renew margin-before-expiry with a new grant
// and put, retry every minute on failure, and watch our own key: a PUT (ours or anyone's)
// moves the expiry to what etcd says, a DELETE (expiry, or an operator) means the lease is gone.
import { CompactedError, type EtcdClient } from './etcd.ts'
import type { Acquired } from './lease-acquire.ts'

export interface KeepOpts {
  ttl: number
  marginMs: number
  signal: AbortSignal
  log: (m: string) => void
  /** delay before retrying a failed renewal (flannel: 1 min) */
  retryMs?: number
}

/** When to renew: margin before expiry, never in the past. */
export function renewDelay(expiresAt: number, marginMs: number, now = Date.now()): number {
  return Math.max(0, expiresAt - marginMs - now)
}

/** Resolves 'revoked' when our key is deleted, 'stopped' when signal aborts. */
export async function keepLease(etcd: EtcdClient, lease: Acquired, o: KeepOpts): Promise<'revoked' | 'stopped'> {
  let expiresAt = lease.expiresAt
  let current = lease.etcdLease
  let timer: NodeJS.Timeout | undefined
  const retryMs = o.retryMs ?? 60_000

  const schedule = (ms: number) => {
    clearTimeout(timer)
    // setTimeout holds at most ~24.8 days; a lease lasts a day, so this is only a guard.
    timer = setTimeout(renew, Math.min(ms, 2 ** 31 - 1))
  }
  const renew = async () => {
    if (o.signal.aborted) return
    try {
      const id = await etcd.grant(o.ttl)
      await etcd.put(lease.key, lease.value, id)
      const old = current
      current = id
      expiresAt = Date.now() + o.ttl * 1000
      if (old !== '0' && old !== id) await etcd.revoke(old).catch(() => {})
      o.log(`Renewed lease ${lease.subnet.text} (etcd lease ${id}, expires ${new Date(expiresAt).toISOString()})`)
      schedule(renewDelay(expiresAt, o.marginMs))
    } catch (e) {
      o.log(`Error renewing lease (trying again in ${Math.round(retryMs / 1000)} s): ${(e as Error).message}`)
      schedule(retryMs)
    }
  }
  schedule(renewDelay(expiresAt, o.marginMs))

  try {
    return await watchOwnKey(etcd, lease.key, o, async (etcdLease) => {
      // A PUT: reset the expiry from the lease now attached (ours after a renewal, or another writer's).
      if (etcdLease === '0') return
      current = etcdLease
      const left = await etcd.timeToLive(etcdLease).catch(() => -1)
      if (left > 0) {
        expiresAt = Date.now() + left * 1000
        schedule(renewDelay(expiresAt, o.marginMs))
      }
    })
  } finally {
    clearTimeout(timer)
  }
}

async function watchOwnKey(etcd: EtcdClient, key: string, o: KeepOpts, onPut: (lease: string) => Promise<void>): Promise<'revoked' | 'stopped'> {
  let rev = 0
  let backoff = 100
  let complained = false
  for (;;) {
    if (o.signal.aborted) return 'stopped'
    let gone = false
    try {
      if (!rev) {
        // (Re)start from a read: if the key is already gone, we are done.
        const { kvs, revision } = await etcd.list(key)
        if (!kvs.some((k) => k.key === key)) return 'revoked'
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
            } else void onPut(ev.kv.lease)
          },
          ac.signal,
        )
      } finally {
        o.signal.removeEventListener('abort', stop)
      }
      if (gone) return 'revoked'
    } catch (e) {
      if (gone) return 'revoked'
      if (e instanceof CompactedError) {
        rev = 0 // re-read the key
        continue
      }
      if (!complained) o.log(`lost the watch on our lease (retrying): ${(e as Error).message}`)
      complained = true
      await sleep(backoff, o.signal)
      backoff = Math.min(backoff * 2, 5000)
    }
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
