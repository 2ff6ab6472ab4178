// The vxlan side of the route syncer: what a valid peer lease asks for (its VTEP, per family),
// the device's neighbours, fdb and routes read with -j, the difference applied as one
// `bridge -batch -` then one `ip -batch -` (two processes whatever the number of peers). Every
// sync re-reads the kernel: three small reads of one device. The loop that drives it is
// reconcile.ts; vxlan/backend.ts plugs this into it.
import type { PeerRecord as KV } from '../../registry/registry.ts'
import type { VxlanBackend } from '../../formats/backend.ts'
import type { Lease } from '../../formats/lease.ts'
import type { Family } from '../../net/cidr.ts'
import { runJson } from '../../core/sh.ts'
import { applyKeepGoing, type Step } from '../../core/plan.ts'
import { log, warn } from '../../core/log.ts'
import { parseVxlanKernel, planVxlan, vxlanPeer, vxlanPeer6, type VxlanPeer, type VxlanPlan } from './plan.ts'
import { PeerVerdicts, type Desire, type NodeView } from '../peers.ts'
import { parseKernelRoutes } from '../hostgw/plan.ts'
import { blackholeLines } from '../blackhole.ts'

/** The device names (IPv4, and dual stack's IPv6 twin) and VNI of the config's vxlan Backend. */
export function vxlanDev(b: VxlanBackend): { dev: string; dev6: string; vni: number } {
  return { dev: `flannel.${b.vni}`, dev6: `flannel-v6.${b.vni}`, vni: b.vni }
}

/** A valid vxlan peer's VTEPs: IPv4, and with an IPv6 network IPv6 too (dual stack), or why not. */
export function vxlanPeers(l: Lease, vni: number, v6: boolean): Desire<VxlanPeer> {
  const p4 = vxlanPeer(l, vni)
  if (typeof p4 === 'string') return { want: [], why: p4 }
  if (!v6) return { want: [p4], why: '' }
  const p6 = vxlanPeer6(l, vni)
  return typeof p6 === 'string' ? { want: [p4], why: p6 } : { want: [p4, p6], why: '' }
}

export const peerKey = (p: VxlanPeer) => p.subnet.text

/** Leases -> vxlan peers of both families (peers.ts judges each lease once per value). */
export class VxlanPeers {
  private readonly verdicts: PeerVerdicts<VxlanPeer>
  constructor(node: NodeView, vni: number) {
    const v6 = node.networks.some((n) => n.family === 6)
    this.verdicts = new PeerVerdicts(node, 'vxlan', (l) => vxlanPeers(l, vni, v6), peerKey)
  }

  compute(leases: Map<string, KV>): VxlanPeer[] {
    return this.verdicts.compute(leases).want
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
    const err = await applyKeepGoing(vxlanSteps(plan))
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
