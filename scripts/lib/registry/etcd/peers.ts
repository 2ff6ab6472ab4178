// The registry side of the route syncer: the peer leases under <prefix>/subnets/, kept current by
// a snapshot and a watch from the snapshot's revision + 1, as flannel's etcd watcher does.
// After a broken watch it resumes from the last revision seen + 1 (backoff 100 ms -> 5 s); after
// a compaction it lists again. Any change calls onChange(); the caller coalesces (route-sync.ts).
import { CompactedError, type EtcdClient, type KV, type WatchEvent } from './client.ts'
import { log, warn, errText } from '../../core/log.ts'
import { emit } from '../../daemon/events.ts'
import type { PeerEvent, PeerSource } from '../registry.ts'

export class PeerRegistry implements PeerSource {
  /** key -> latest KV under <prefix>/subnets/ */
  leases = new Map<string, KV>()
  /** revision of the last snapshot: watch events at or before it are already in `leases` */
  private listedAt = 0
  /** highest revision reflected in `leases`: the watch resumes after it */
  revision = 0
  readonly subnetsPrefix: string

  constructor(
    private readonly client: EtcdClient,
    prefix: string,
  ) {
    this.subnetsPrefix = `${prefix.replace(/\/+$/, '')}/subnets/`
  }

  describe(): string {
    return `${this.subnetsPrefix} from revision ${this.revision + 1}`
  }

  /** Replace the lease set with a fresh snapshot (one paged range read). */
  async relist(): Promise<void> {
    const before = this.revision
    let res: { kvs: KV[]; revision: number }
    try {
      res = await this.client.list(this.subnetsPrefix)
    } catch (e) {
      this.failed('list', e)
      throw e
    }
    this.reachable()
    // A new cluster busy enough to pass our revision looks like ours: its history tells.
    const newCluster = !this.keptOld && res.revision >= before && (await this.historyLost(res.kvs, before))
    if (newCluster) {
      warn(`etcd's history at revision ${before} no longer holds the leases we listed there (its data was wiped or restored): taking the new lease list and watching from it`)
      this.restartWatch?.()
      this.keptOld = true
    } else if (res.revision < this.revision) {
      // A slower list must not roll back what a faster watch already delivered...
      if (res.revision >= before) return
      // ...but a list lower than what we had before it started is a new cluster (etcd wiped, or
      // restored from a backup; issue 13 item 9): take it, and stop a watch that waits for
      // revisions this cluster has never had.
      warn(`etcd's revision went back from ${before} to ${res.revision} (its data was wiped or restored): taking the new lease list and watching from it`)
      this.restartWatch?.()
      this.keptOld = true
    }
    if (this.keptOld && res.kvs.length === 0) {
      // An emptied cluster says nothing about the peers: until a lease appears in it again (the
      // nodes re-register within seconds of the config's return), keep routing to the ones we
      // knew rather than cut every pod off (issue 13 item 9). Watch events apply on top.
      this.listedAt = res.revision
      this.revision = res.revision
      return
    }
    this.keptOld = false
    this.leases = new Map(res.kvs.map((kv) => [kv.key, kv]))
    this.listedAt = res.revision
    this.revision = res.revision
  }

  /**
   * Whether a lease we hold but the new list lacks was never in this cluster's history at the
   * revision we knew it at: then the cluster is not the one we listed (wiped, or restored; the
   * same check as the subnet writer's, subnet/renew.ts historyLost). A compacted revision or a
   * failed read cannot tell: an ordinary deletion, as before.
   */
  private async historyLost(kvs: KV[], before: number): Promise<boolean> {
    if (!before) return false
    const now = new Set(kvs.map((k) => k.key))
    const gone = [...this.leases.values()].find((kv) => !now.has(kv.key) && kv.modRevision <= before)
    if (!gone) return false
    try {
      const then = await this.client.get(gone.key, before)
      return !then || then.createRevision !== gone.createRevision
    } catch (e) {
      return /future revision/.test(errText(e))
    }
  }

  /** Apply one watch event; false when the snapshot already had it. */
  apply(ev: WatchEvent): boolean {
    // Events of one transaction share a revision, so compare with the snapshot, not the last event.
    if (ev.revision <= this.listedAt) return false
    if (ev.type === 'DELETE') this.leases.delete(ev.kv.key)
    else this.leases.set(ev.kv.key, ev.kv)
    if (ev.revision > this.revision) this.revision = ev.revision
    return true
  }

  /** Watch until signal aborts. Never throws: errors are logged and the watch resumes. */
  async watchLoop(signal: AbortSignal, onChange: (ev?: PeerEvent) => void): Promise<void> {
    let backoff = 100
    while (!signal.aborted) {
      if (this.down) {
        // A probe, so the watch is not reopened against a dead endpoint at every backoff; a list,
        // so an etcd that came back empty is noticed before a watch from our old revision.
        try {
          await this.relist()
          onChange()
        } catch (e) {
          this.failed('probe', e)
          await this.pause(backoff, signal)
          backoff = Math.min(backoff * 2, 5000)
          continue
        }
      }
      const started = Date.now()
      const ac = new AbortController()
      const stop = () => ac.abort()
      signal.addEventListener('abort', stop, { once: true })
      this.restartWatch = stop
      try {
        await this.client.watch(
          this.subnetsPrefix,
          this.revision + 1,
          (ev) => {
            const had = this.leases.has(ev.kv.key)
            if (this.apply(ev)) onChange({ type: ev.type === 'DELETE' ? 'removed' : had ? 'changed' : 'added', key: ev.kv.key })
          },
          ac.signal,
        )
      } catch (e) {
        if (signal.aborted) break
        emit({ event: 'watch-restart', reason: errText(e) })
        if (Date.now() - started > 10_000) backoff = 100
        if (e instanceof CompactedError) {
          log(`etcd watch: revision ${this.revision + 1} compacted (now ${e.compactRevision}); listing the leases again`)
          try {
            await this.relist()
            onChange()
            continue
          } catch {}
        } else this.failed('watch', e)
        await this.pause(backoff, signal)
        backoff = Math.min(backoff * 2, 5000)
      } finally {
        signal.removeEventListener('abort', stop)
        this.restartWatch = undefined
      }
    }
  }

  /** the leases of a cluster that was wiped, kept while the new one has none */
  private keptOld = false

  /** Ends the current watch so the loop starts another from this.revision + 1. */
  private restartWatch?: () => void

  // etcd health, said once per outage (and every 30 s while it lasts), whichever path saw it.
  private down?: { since: number; said: number }
  private wake?: () => void

  private failed(what: string, e: unknown): void {
    emit({ event: 'error', kind: 'registry', message: `${what}: ${errText(e)}` })
    const now = Date.now()
    if (!this.down) {
      this.down = { since: now, said: now }
      warn(`etcd unreachable (${what}: ${errText(e)}): keeping routes; retrying`)
    } else if (now - this.down.said >= 30_000) {
      this.down.said = now
      warn(`etcd still unreachable after ${Math.round((now - this.down.since) / 1000)} s (${what}: ${errText(e)}): keeping routes`)
    }
  }

  private reachable(): void {
    if (!this.down) return
    log(`etcd reachable again after ${Math.round((Date.now() - this.down.since) / 1000)} s; resuming the watch from revision ${this.revision + 1}`)
    this.down = undefined
    this.wake?.()
  }

  /** Back off, but wake as soon as another path (the periodic re-list) finds etcd back. */
  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    const w = new AbortController()
    this.wake = () => w.abort()
    await sleep(ms, signal, w.signal)
    this.wake = undefined
  }
}

/** Wait ms, or less when any signal aborts. */
export function sleep(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      for (const s of signals) s.removeEventListener('abort', done)
      resolve()
    }
    for (const s of signals) s.addEventListener('abort', done, { once: true })
  })
}
