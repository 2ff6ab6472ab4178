// The state behind the Kubernetes API test double: Nodes and Pods, one resourceVersion counter
// (etcd's revision, as kube-apiserver uses it), an event history that can be compacted, and the
// strategic merge patch of the fields flannel writes.
// Where each behaviour comes from (k8s.io/apiserver and k8s.io/apimachinery, v1.32):
// - RV is a global counter; an update that changes nothing keeps the object's RV and emits no
//   event (registry/generic/registry/store.go: GuaranteedUpdate skips the write when unchanged).
// - a DELETE emits the object as last seen with a new RV (etcd3 watcher: deletes carry the prev KV
//   at the delete revision).
// - watch history older than the compaction revision is gone: 410 "too old resource version"
//   (storage/cacher/watch_cache.go, errors.NewResourceExpired).
// - strategic merge patch (apimachinery/pkg/util/strategicpatch): maps merge, null deletes a key,
//   lists with a patchMergeKey merge by it (Node status.conditions and status.addresses by
//   `type`), other lists are replaced; `$patch: replace|delete` directives are honoured on maps.
// - status strategy for nodes (pkg/registry/core/node/strategy.go nodeStatusStrategy
//   PrepareForUpdate): the new object's spec is the old one's; metadata changes are kept.

export type Obj = Record<string, any>
export interface Event {
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  object: Obj
  rv: number
}

/** Lists whose items merge by a key (x-kubernetes-patch-merge-key in the Node schema). */
const MERGE_KEYS: Record<string, string> = { conditions: 'type', addresses: 'type' }

export function strategicMerge(orig: unknown, patch: unknown, field = ''): unknown {
  if (patch === null) return undefined
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS[field]
    if (!key || !Array.isArray(orig)) return clone(patch)
    const out = orig.map(clone)
    for (const p of patch) {
      const i = out.findIndex((o: Obj) => o?.[key] === p?.[key])
      if (p?.$patch === 'delete') {
        if (i >= 0) out.splice(i, 1)
      } else if (i >= 0) out[i] = strategicMerge(out[i], p)
      else out.push(clone(p))
    }
    return out
  }
  if (typeof patch !== 'object' || typeof orig !== 'object' || orig === null || Array.isArray(orig)) return clone(patch)
  if ((patch as Obj).$patch === 'replace') {
    const { $patch, ...rest } = patch as Obj
    return clone(rest)
  }
  const out: Obj = clone(orig)
  for (const [k, v] of Object.entries(patch as Obj)) {
    if (k === '$patch') continue
    const m = strategicMerge(out[k], v, k)
    if (m === undefined) delete out[k]
    else out[k] = m
  }
  return out
}

/** RFC 7386 JSON merge patch: maps merge, null deletes, every list is replaced. */
export function mergePatch(orig: unknown, patch: unknown): unknown {
  if (patch === null) return undefined
  if (typeof patch !== 'object' || Array.isArray(patch)) return clone(patch)
  const out: Obj = typeof orig === 'object' && orig !== null && !Array.isArray(orig) ? clone(orig) : {}
  for (const [k, v] of Object.entries(patch as Obj)) {
    const m = mergePatch(out[k], v)
    if (m === undefined) delete out[k]
    else out[k] = m
  }
  return out
}

export function clone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v))
}

export class Store {
  rv = 1
  compactedAt = 0
  nodes = new Map<string, Obj>()
  pods = new Map<string, Obj>()
  history: Event[] = []
  private subscribers = new Set<(e: Event) => void>()

  subscribe(fn: (e: Event) => void): () => void {
    this.subscribers.add(fn)
    return () => this.subscribers.delete(fn)
  }

  private emit(type: Event['type'], object: Obj): void {
    const e = { type, object: clone(object), rv: this.rv }
    this.history.push(e)
    for (const s of this.subscribers) s(e)
  }

  /** Create a Node (as a controller-manager or kubelet would). */
  createNode(node: Obj): Obj {
    const name = node.metadata?.name
    if (!name || this.nodes.has(name)) throw new Error(`node ${name} exists or has no name`)
    const n: Obj = clone(node)
    n.apiVersion = 'v1'
    n.kind = 'Node'
    n.metadata = { ...n.metadata, uid: `uid-${name}-${this.rv}`, creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), resourceVersion: String(++this.rv) }
    n.spec ??= {}
    n.status ??= {}
    this.nodes.set(name, n)
    this.emit('ADDED', n)
    return n
  }

  /** Replace a Node through a mutation; no event and no new RV when nothing changed. */
  updateNode(name: string, fn: (n: Obj) => Obj): Obj | undefined {
    const old = this.nodes.get(name)
    if (!old) return undefined
    const next = fn(clone(old))
    next.metadata.resourceVersion = old.metadata.resourceVersion
    if (JSON.stringify(next) === JSON.stringify(old)) return old
    next.metadata.resourceVersion = String(++this.rv)
    this.nodes.set(name, next)
    this.emit('MODIFIED', next)
    return next
  }

  deleteNode(name: string): boolean {
    const old = this.nodes.get(name)
    if (!old) return false
    this.nodes.delete(name)
    const gone = clone(old)
    gone.metadata.resourceVersion = String(++this.rv)
    this.emit('DELETED', gone)
    return true
  }

  /** Strategic merge through nodes/<n>/status: spec kept from the old object. */
  patchNodeStatus(name: string, patch: Obj, merge = false): Obj | undefined {
    return this.updateNode(name, (n) => {
      const merged = (merge ? mergePatch : strategicMerge)(n, stripImmutable(patch)) as Obj
      merged.spec = n.spec
      return merged
    })
  }

  patchNode(name: string, patch: Obj, merge = false): Obj | undefined {
    return this.updateNode(name, (n) => {
      const merged = (merge ? mergePatch : strategicMerge)(n, stripImmutable(patch)) as Obj
      merged.status = n.status
      return merged
    })
  }

  addPod(namespace: string, name: string, nodeName: string): void {
    this.pods.set(`${namespace}/${name}`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, resourceVersion: String(++this.rv) }, spec: { nodeName } })
  }

  /** Forget history up to now, as etcd compaction does: older watches and continues get 410. */
  compact(): void {
    this.compactedAt = this.rv
    this.history = []
  }
}

function stripImmutable(patch: Obj): Obj {
  const p = clone(patch)
  if (p.metadata) {
    delete p.metadata.resourceVersion
    delete p.metadata.uid
    delete p.metadata.name
  }
  return p
}
