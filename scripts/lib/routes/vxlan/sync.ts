// The vxlan side of the route syncer: leases -> peers (each lease judged once per value, each bad
// one warned about once), the device's neighbours, fdb and routes read with -j, the difference
// applied as one `bridge -batch -` then one `ip -batch -` (two processes whatever the number of
// peers). Every sync re-reads the kernel: three small reads of one device.
import type { PeerRecord as KV } from '../../registry/registry.ts'
import type { VxlanBackend } from '../../formats/backend.ts'
import { parseLease, peerProblem } from '../../formats/lease.ts'
import { sameCidr, type Family } from '../../net/cidr.ts'
import { run, runJson, cmdline, type Step } from '../../core/sh.ts'
import { log, warn, errText } from '../../core/log.ts'
import { parseVxlanKernel, planVxlan, vxlanPeer, vxlanPeer6, type VxlanPeer, type VxlanPlan } from './plan.ts'
import type { NodeView } from '../hostgw/sync.ts'
import { parseKernelRoutes } from '../hostgw/plan.ts'
import { blackholeLines } from '../blackhole.ts'

/** The device name and VNI of the config's vxlan Backend. */
export function vxlanDev(b: VxlanBackend): { dev: string; vni: number } {
  return { dev: `flannel.${b.vni}`, vni: b.vni }
}

export class VxlanPeers {
  private verdicts = new Map<string, { value: string; peers: VxlanPeer[] }>()
  private readonly v6: boolean
  constructor(
    private readonly node: NodeView,
    private readonly vni: number,
  ) {
    this.v6 = node.networks.some((n) => n.family === 6)
  }

  /** Every peer of both families (dual stack: a lease gives an IPv4 and an IPv6 peer). */
  compute(leases: Map<string, KV>): VxlanPeer[] {
    const out: VxlanPeer[] = []
    for (const kv of leases.values()) {
      let v = this.verdicts.get(kv.key)
      if (!v || v.value !== kv.value) {
        const r = this.judge(kv)
        v = { value: kv.value, peers: r.peers }
        if (r.why) warn(`${r.peers.length ? 'no IPv6 peer for' : 'ignoring'} lease ${kv.key}: ${r.why}`)
        this.verdicts.set(kv.key, v)
      }
      out.push(...v.peers)
    }
    for (const k of this.verdicts.keys()) if (!leases.has(k)) this.verdicts.delete(k)
    return out
  }

  /** The peers, and why there are none or no IPv6 one ('' = our own lease, skipped silently). */
  private judge(kv: KV): { peers: VxlanPeer[]; why: string } {
    const { node } = this
    const none = (why: string) => ({ peers: [], why })
    try {
      const l = parseLease(kv.prefix ?? node.prefix, kv)
      if (node.localIps.includes(l.publicIp.text) && node.own.some((o) => sameCidr(o, l.subnet))) return none('')
      if (l.backendType !== 'vxlan') return none(`backend type ${JSON.stringify(l.backendType)}, this node runs vxlan`)
      const problem = peerProblem(
        l,
        node.cfg,
        node.own.find((o) => o.family === 4),
        node.own.find((o) => o.family === 6),
      )
      if (problem) return none(problem)
      if (node.localIps.includes(l.publicIp.text)) return none(`its PublicIP ${l.publicIp.text} is this node's, but the subnet is not ours`)
      if (this.v6 && l.publicIpv6 && l.ipv6Subnet && node.localIps.includes(l.publicIpv6.text))
        return none(`its PublicIPv6 ${l.publicIpv6.text} is this node's, but the subnet is not ours`)
      const p4 = vxlanPeer(l, this.vni)
      if (typeof p4 === 'string') return none(p4)
      if (!this.v6) return { peers: [p4], why: '' }
      const p6 = vxlanPeer6(l, this.vni)
      return typeof p6 === 'string' ? { peers: [p4], why: p6 } : { peers: [p4, p6], why: '' }
    } catch (e) {
      return none(errText(e).replace(`lease ${kv.key}: `, ''))
    }
  }
}

/** One family's plan on its device (flannel.<VNI>: 4, flannel-v6.<VNI>: 6); peers of the other family are left out. */
export async function planVxlanSync(node: NodeView, dev: string, peers: VxlanPeer[], fam: Family = 4): Promise<VxlanPlan> {
  const f = `-${fam}`
  const [neigh, fdb, routes, blackholes] = await Promise.all([
    runJson(['ip', f, '-j', 'neigh', 'show', 'dev', dev]),
    runJson(['bridge', '-j', 'fdb', 'show', 'dev', dev]),
    runJson(['ip', f, '-j', 'route', 'show', 'dev', dev]),
    node.blackhole ? runJson(['ip', f, '-j', 'route', 'show', 'table', 'main', 'type', 'blackhole']) : [],
  ])
  const network = node.networks.find((n) => n.family === fam)!
  const own = node.own.filter((o) => o.family === fam)
  const plan = planVxlan(
    peers.filter((p) => p.subnet.family === fam),
    parseVxlanKernel(neigh, fdb, routes, network, own[0]),
    dev,
  )
  if (node.blackhole) {
    const lines = blackholeLines(parseKernelRoutes(blackholes, fam), own)
    plan.ipBatch += lines.map((l) => l + '\n').join('')
    plan.blackholes = lines.length
  }
  return plan
}

/** The plan as steps (for --dry-run and for applying): fdb first, so a route never points at a MAC with no remote. */
export function vxlanSteps(p: VxlanPlan): Step[] {
  const steps: Step[] = []
  if (p.bridgeBatch) steps.push({ argv: ['bridge', '-force', '-batch', '-'], input: p.bridgeBatch })
  if (p.ipBatch) steps.push({ argv: ['ip', '-force', '-batch', '-'], input: p.ipBatch })
  return steps
}

export class VxlanSyncer {
  private lastError = ''
  /** the last sync's plan and outcome (for flanneld's events: sync-report.ts) */
  last?: { plan: VxlanPlan; err: string; planned: number }
  constructor(
    private readonly node: NodeView,
    private readonly dev: string,
    private readonly fam: Family = 4,
  ) {}

  /** One full sync of this family's peers; false when a line of a batch failed (logged once while it repeats). */
  async sync(peers: VxlanPeer[]): Promise<boolean> {
    const plan = await planVxlanSync(this.node, this.dev, peers, this.fam)
    const errs: string[] = []
    for (const s of vxlanSteps(plan)) {
      const res = await run(s.argv, { input: s.input, nothrow: true })
      if (res.code !== 0) errs.push(`${cmdline(s.argv)}: ${res.stderr.trim().split('\n').slice(0, 6).join('; ') || `exit status ${res.code}`}`)
    }
    const err = errs.join(' | ')
    this.last = { plan, err, planned: peers.filter((p) => p.subnet.family === this.fam).length }
    const bh = plan.blackholes ? `, ${plan.blackholes} blackhole route added` : ''
    const n = peers.filter((p) => p.subnet.family === this.fam).length
    if (plan.ipBatch || plan.bridgeBatch)
      log(`vxlan${this.fam === 6 ? ' IPv6' : ''}: ${plan.added} peers added, ${plan.changed} changed, ${plan.removed} removed${bh} (${n} peers)${err ? ', with errors' : ''}`)
    if (err && err !== this.lastError) warn(err)
    this.lastError = err
    return !err
  }
}
