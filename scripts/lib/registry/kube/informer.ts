// Nodes kept current the way client-go's informer keeps them (flannel's kube subnet manager runs
// one on all Nodes): a list (the first with resourceVersion=0, as client-go's reflector makes it,
// so the apiserver may answer from its watch cache in one piece; a relist after 410 is a
// consistent, paginated one: limit/continue, an expired continue token restarts the list), then a watch from the list's resourceVersion with bookmarks; a stream the server ends is
// resumed from the last version seen; history compacted (410, as an ERROR event or an answer)
// means a fresh list, diffed against the cache so the consumer sees what was added, changed and
// removed meanwhile; every resyncMs (flannel: 5 min) the consumer is called again from the cache,
// as client-go's resync replays its store: a resync never lists (only a 410 does).
import type { KubeClient } from './client.ts'
import { KubeStatusError, KubeTransientError } from './client.ts'
import { PermanentError, TransientError } from '../errors.ts'
import { log, errText } from '../../core/log.ts'

export type KubeNode = { metadata: { name: string; resourceVersion: string; annotations?: Record<string, string> }; spec?: { podCIDR?: string; podCIDRs?: string[] }; status?: any }
export type NodeEvent = { type: 'added' | 'changed' | 'removed'; node: KubeNode } | { type: 'resync' }

export interface InformerOpts {
  pageSize?: number
  resyncMs?: number
  /** seconds a watch asks the server to keep open (client-go: random 5-10 min) */
  watchSeconds?: () => number
}

export class NodeInformer {
  nodes = new Map<string, KubeNode>()
  resourceVersion = ''
  lists = 0

  constructor(
    private readonly client: KubeClient,
    private readonly o: InformerOpts = {},
  ) {}

  /** A full list into the cache; returns what changed against the old cache. */
  async list(signal?: AbortSignal): Promise<NodeEvent[]> {
    const limit = this.o.pageSize ?? 500
    // client-go's relistResourceVersion(): "0" for the first list (served from the watch cache,
    // where the apiserver ignores limit), "" (a consistent read, paginated) after a 410.
    const fromCache = this.lists === 0
    for (;;) {
      const items: KubeNode[] = []
      let cont = ''
      let rv = ''
      try {
        do {
          const q = new URLSearchParams({ limit: String(limit) })
          if (cont) q.set('continue', cont)
          else if (fromCache) q.set('resourceVersion', '0')
          const page = await this.client.call('listing Nodes', 'GET', `/api/v1/nodes?${q}`, { signal })
          for (const n of page.items ?? []) items.push(trim(n))
          cont = page.metadata?.continue ?? ''
          rv = page.metadata?.resourceVersion ?? ''
        } while (cont)
      } catch (e) {
        if (e instanceof KubeStatusError && e.code === 410) {
          log('listing Nodes: the continue token expired (410); listing again from the start')
          continue
        }
        throw e
      }
      this.lists++
      return this.replace(items, rv)
    }
  }

  private replace(items: KubeNode[], rv: string): NodeEvent[] {
    const evs: NodeEvent[] = []
    const next = new Map<string, KubeNode>()
    for (const n of items) {
      const old = this.nodes.get(n.metadata.name)
      if (!old) evs.push({ type: 'added', node: n })
      else if (old.metadata.resourceVersion !== n.metadata.resourceVersion) evs.push({ type: 'changed', node: n })
      next.set(n.metadata.name, n)
    }
    for (const [name, n] of this.nodes) if (!next.has(name)) evs.push({ type: 'removed', node: n })
    this.nodes = next
    this.resourceVersion = rv
    return evs
  }

  /**
   * Watch until signal aborts, calling onEvent for each change. Transient failures are retried
   * with backoff (said by the client); a PermanentError is thrown to the caller.
   */
  async run(signal: AbortSignal, onEvent: (e: NodeEvent) => void): Promise<void> {
    const resync = setInterval(() => onEvent({ type: 'resync' }), this.o.resyncMs ?? 300_000)
    let backoff = 1000
    try {
      while (!signal.aborted) {
        let gone = false
        const started = Date.now()
        try {
          const secs = this.o.watchSeconds?.() ?? 300 + Math.floor(Math.random() * 300)
          const q = new URLSearchParams({ watch: 'true', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(secs) })
          await this.client.watch(
            `/api/v1/nodes?${q}`,
            (ev) => {
              if (ev.type === 'ERROR') {
                if (ev.object?.code === 410) gone = true
                else throw new TransientError(`watch error: ${ev.object?.message ?? JSON.stringify(ev.object)}`)
                return
              }
              const n = trim(ev.object)
              if (n?.metadata?.resourceVersion) this.resourceVersion = n.metadata.resourceVersion
              if (ev.type === 'BOOKMARK') return
              if (ev.type === 'DELETED') {
                this.nodes.delete(n.metadata.name)
                onEvent({ type: 'removed', node: n })
              } else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
                const had = this.nodes.has(n.metadata.name)
                this.nodes.set(n.metadata.name, n)
                onEvent({ type: had ? 'changed' : 'added', node: n })
              }
            },
            signal,
          )
          if (Date.now() - started > 1000) backoff = 1000
          else if (!gone) {
            // A stream that ends at once, over and over, must not become a busy loop.
            await pause(backoff, signal)
            backoff = Math.min(backoff * 2, 30_000)
          }
        } catch (e) {
          if (signal.aborted) break
          if (e instanceof PermanentError) throw e
          if (e instanceof KubeStatusError && e.code === 410) gone = true
          else {
            // 429: the server's Retry-After, not our backoff.
            const wait = e instanceof KubeTransientError && e.retryAfterMs !== undefined ? e.retryAfterMs : backoff
            log(`watching Nodes: ${errText(e)}; resuming from resourceVersion ${this.resourceVersion} in ${wait / 1000} s`)
            await pause(wait, signal)
            backoff = Math.min(backoff * 2, 30_000)
            continue
          }
        }
        if (gone) {
          log(`watching Nodes: resourceVersion ${this.resourceVersion} is too old (410 Gone, history compacted); listing again`)
          for (const ev of await this.list(signal)) onEvent(ev)
        }
      }
    } finally {
      clearInterval(resync)
    }
  }
}

/**
 * Only what a peer needs is cached (client-go's informer transform does the same): a Node's
 * status (conditions, images, capacity: most of its bytes) would triple the daemon's memory at
 * 5000 Nodes for nothing.
 */
function trim(n: any): KubeNode {
  const m = n?.metadata ?? {}
  return {
    metadata: { name: m.name, resourceVersion: m.resourceVersion, annotations: m.annotations },
    spec: n?.spec ? { podCIDR: n.spec.podCIDR, podCIDRs: n.spec.podCIDRs } : undefined,
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}
