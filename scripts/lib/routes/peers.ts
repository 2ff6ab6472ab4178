// Which peer leases the route syncer acts on, whatever the backend: the node as the syncer sees
// it, the one judgement of a lease (judgePeer: parsed, not ours, the node's backend type, inside
// the network, not naming this node's addresses), and PeerVerdicts, which keeps each key's
// verdict until its value changes, so a bad lease is warned about once and a watch event's sync
// knows which entries changed. What a valid lease asks of the kernel is the backend's (desire).
import type { PeerRecord } from '../registry/registry.ts'
import { parseLease, peerProblem, type Lease } from '../formats/lease.ts'
import type { NetworkConfig } from '../formats/net-conf.ts'
import { sameCidr, type Cidr } from '../net/cidr.ts'
import { warn, errText } from '../core/log.ts'

export interface NodeView {
  prefix: string
  iface: string
  cfg: NetworkConfig
  /** cluster networks, one per enabled family */
  networks: Cidr[]
  /** our own subnet(s) */
  own: Cidr[]
  /** the external interface's addresses: a lease naming one of them is this node's */
  localIps: string[]
  /** --ip-blackhole-route: keep a blackhole route for each own subnet (route-blackhole.ts) */
  blackhole?: boolean
  /** the external interface's connected IPv4 networks (vxlan DirectRouting) */
  ifaceNets?: Cidr[]
  /** manage only the gateway routes through --iface (vxlan DirectRouting's direct routes) */
  ifaceRoutesOnly?: boolean
}

/**
 * The lease if it is a peer this node's backend (`type`) acts on, else why not: '' for our own
 * lease (skipped silently), a reason to warn about for any other.
 */
export function judgePeer(kv: PeerRecord, node: NodeView, type: string): Lease | string {
  try {
    const l = parseLease(kv.prefix ?? node.prefix, kv)
    if (node.localIps.includes(l.publicIp.text) && node.own.some((o) => sameCidr(o, l.subnet))) return ''
    if (l.backendType !== type) return `backend type ${JSON.stringify(l.backendType)}, this node runs ${type}`
    const problem = peerProblem(
      l,
      node.cfg,
      node.own.find((o) => o.family === 4),
      node.own.find((o) => o.family === 6),
    )
    if (problem) return problem
    if (node.localIps.includes(l.publicIp.text)) return `its PublicIP ${l.publicIp.text} is this node's, but the subnet is not ours`
    const v6 = node.networks.some((n) => n.family === 6)
    if (v6 && l.publicIpv6 && l.ipv6Subnet && node.localIps.includes(l.publicIpv6.text)) return `its PublicIPv6 ${l.publicIpv6.text} is this node's, but the subnet is not ours`
    return l
  } catch (e) {
    // parseLease's reasons already start with "lease <key>: "; the warning names the key once.
    return errText(e).replace(`lease ${kv.key}: `, '')
  }
}

/** What a valid peer asks of a backend: its entries, and why it gives none or only some (IPv4 but no IPv6). */
export interface Desire<D> {
  want: D[]
  why: string
}

interface Verdict<D> {
  value: string
  want: D[]
}

/** Leases -> desired entries, each key judged again only when its value changes. */
export class PeerVerdicts<D> {
  private verdicts = new Map<string, Verdict<D>>()
  constructor(
    private readonly node: NodeView,
    private readonly type: string,
    private readonly desire: (l: Lease) => Desire<D>,
    private readonly keyOf: (d: D) => string,
  ) {}

  /**
   * Every desired entry, in lease order, and the keys of the entries that changed since the last
   * call (a lease put, changed or deleted): a sync for a watch event only needs to look at those.
   */
  compute(leases: Map<string, PeerRecord>): { want: D[]; touched: Set<string> } {
    const want: D[] = []
    const touched = new Set<string>()
    for (const kv of leases.values()) {
      let v = this.verdicts.get(kv.key)
      if (!v || v.value !== kv.value) {
        for (const d of v?.want ?? []) touched.add(this.keyOf(d))
        v = this.judge(kv)
        for (const d of v.want) touched.add(this.keyOf(d))
        this.verdicts.set(kv.key, v)
      }
      for (const d of v.want) want.push(d)
    }
    if (this.verdicts.size > leases.size) {
      for (const [k, v] of this.verdicts) {
        if (leases.has(k)) continue
        for (const d of v.want) touched.add(this.keyOf(d))
        this.verdicts.delete(k)
      }
    }
    return { want, touched }
  }

  private judge(kv: PeerRecord): Verdict<D> {
    const l = judgePeer(kv, this.node, this.type)
    const { want, why } = typeof l === 'string' ? { want: [], why: l } : this.desire(l)
    if (why) warn(`${want.length ? 'no IPv6 peer for' : 'ignoring'} lease ${kv.key}: ${why}`)
    return { value: kv.value, want }
  }
}
