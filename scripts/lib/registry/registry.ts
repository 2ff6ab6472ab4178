// The registry seam: what the parts ask of the cluster, whichever registry holds it (etcd, as
// flannel's etcd subnet manager; Kubernetes Nodes, as its kube subnet manager). The subnet writer
// gets the network config and our lease through it, then keeps the lease; the route syncer reads
// peers through it, and never knows which registry it has.
//
// Peers are flannel leases whatever the registry: a key naming the subnet(s) as an etcd lease key
// does and a LeaseAttrs JSON value, so one function (formats/lease.ts parseLease + peerProblem)
// judges every peer, from etcd or from a Node's annotations alike.
// Failures are TransientError (retry, keep what is in place) or PermanentError (say it, stop):
// errors.ts.
import type { NetworkConfig } from '../formats/net-conf.ts'
import type { Cidr, Ip } from '../net/cidr.ts'

export { TransientError, PermanentError } from './errors.ts'

/** One peer in flannel's lease shape. */
export interface PeerRecord {
  /** `<prefix>/subnets/10.244.1.0-24[&fd00::-64]`: names the subnet(s) */
  key: string
  /** flannel's LeaseAttrs JSON */
  value: string
  /** changes whenever the record does (etcd mod revision, Node resourceVersion) */
  modRevision: number
  /** the prefix `key` is under, when not the route syncer's --etcd-prefix (kube: `node/<name>`) */
  prefix?: string
}

export interface PeerEvent {
  type: 'added' | 'changed' | 'removed'
  key: string
}

/** The peers, listed then watched. */
export interface PeerSource {
  /** key -> the current record */
  readonly leases: Map<string, PeerRecord>
  /** a fresh full list; throws TransientError while the registry is unreachable */
  relist(): Promise<void>
  /** watch until signal aborts; onChange after each change (the event when one is known, none
   * after a relist); transient failures are retried inside, a PermanentError is thrown */
  watchLoop(signal: AbortSignal, onChange: (ev?: PeerEvent) => void): Promise<void>
  /** what is watched, for the log */
  describe(): string
}

/** What the subnet writer publishes about this node. */
export interface OurAttrs {
  publicIp: Ip
  publicIpv6?: Ip
  backendType: string
  backendData: Record<string, unknown> | null
  backendV6Data?: Record<string, unknown> | null
}

export interface OurLease {
  subnet: Cidr
  ipv6Subnet?: Cidr
}

export interface Registry {
  readonly kind: 'etcd' | 'kube'
  /** the network config; undefined only when signal aborts while waiting for it */
  config(signal?: AbortSignal): Promise<NetworkConfig | undefined>
  /** our subnet(s), published with attrs; waits (saying why) while the registry cannot give one */
  acquire(cfg: NetworkConfig, attrs: OurAttrs, signal: AbortSignal): Promise<OurLease>
  /** keep the lease until signal aborts ('stopped') or the registry takes it away ('revoked') */
  keep(lease: OurLease, signal: AbortSignal): Promise<'revoked' | 'stopped'>
  peers(): PeerSource
  /** let the process end: close connections */
  close(): void
}
