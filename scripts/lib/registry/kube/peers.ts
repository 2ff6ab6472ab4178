// The route syncer's peers from Kubernetes: every Node flannel manages, as a lease record
// (node.ts nodeRecord), kept current by one NodeInformer. Our own Node is left out.
import type { PeerEvent, PeerRecord, PeerSource } from '../registry.ts'
import type { KubeClient } from './client.ts'
import { NodeInformer, type InformerOpts, type KubeNode } from './informer.ts'
import { nodeRecord } from './node.ts'

export class KubePeers implements PeerSource {
  readonly leases = new Map<string, PeerRecord>()
  private keyOf = new Map<string, string>() // node name -> its record's key
  readonly informer: NodeInformer

  constructor(
    private readonly client: KubeClient,
    private readonly nodeName: string,
    private readonly prefix: string,
    o: InformerOpts = {},
  ) {
    this.informer = new NodeInformer(client, o)
  }

  describe(): string {
    return `Nodes at ${this.client.target.server.origin} from resourceVersion ${this.informer.resourceVersion}`
  }

  /**
   * The first call lists; later ones keep the informer's cache, which the watch keeps current
   * (and relists on 410): listing thousands of Nodes at every periodic resync is what an
   * informer exists to avoid.
   */
  async relist(): Promise<void> {
    if (this.informer.lists > 0) return
    await this.informer.list()
    for (const n of this.informer.nodes.values()) this.set(n)
  }

  async watchLoop(signal: AbortSignal, onChange: (ev?: PeerEvent) => void): Promise<void> {
    await this.informer.run(signal, (ev) => {
      // client-go's resync: every cached Node handed to the handler again (no list request).
      // flannel's update handler drops them all (no annotation changed); here too nothing changes
      // unless a record had drifted from the cache, and the sync that follows is then that one.
      if (ev.type === 'resync') {
        for (const n of this.informer.nodes.values()) this.set(n)
        return onChange()
      }
      const key = ev.type === 'removed' ? this.drop(ev.node.metadata.name) : this.set(ev.node)
      if (key !== undefined) onChange({ type: ev.type, key })
    })
  }

  /** Store the Node's record; the key that changed, or undefined when nothing did. */
  private set(n: KubeNode): string | undefined {
    const name = n.metadata.name
    if (name === this.nodeName) return undefined
    const rec = nodeRecord(n, this.prefix)
    const oldKey = this.keyOf.get(name)
    if (!rec) return oldKey !== undefined ? this.drop(name) : undefined
    if (oldKey !== undefined && oldKey !== rec.key) this.leases.delete(oldKey)
    this.keyOf.set(name, rec.key)
    this.leases.set(rec.key, rec)
    return rec.key
  }

  private drop(name: string): string | undefined {
    const key = this.keyOf.get(name)
    if (key === undefined) return undefined
    this.keyOf.delete(name)
    this.leases.delete(key)
    return key
  }
}
