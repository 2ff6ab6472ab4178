// The vxlan side of the route syncer: leases -> peers (each lease judged once per value, each bad
// one warned about once), the device's neighbours, fdb and routes read with -j, the difference
// applied as one `bridge -batch -` then one `ip -batch -` (two processes whatever the number of
// peers). Every sync re-reads the kernel: three small reads of one device.
import type { KV } from './etcd.ts'
import { parseLease, peerProblem } from './lease.ts'
import { sameCidr } from './cidr.ts'
import { run, runJson, cmdline, type Step } from './sh.ts'
import { log, warn, errText } from './log.ts'
import { parseVxlanKernel, planVxlan, vxlanPeer, type VxlanPeer, type VxlanPlan } from './route-vxlan-plan.ts'
import type { NodeView } from './route-sync.ts'
import { parseKernelRoutes } from './route-plan.ts'
import { blackholeLines } from './route-blackhole.ts'

/** The device name and VNI from the network config (flannel's defaults). */
export function vxlanDev(raw: Record<string, unknown>): { dev: string; vni: number } {
  const k = Object.keys(raw).find((x) => x.toLowerCase() === 'vni')
  const vni = k === undefined ? 1 : raw[k]
  if (typeof vni !== 'number' || !Number.isInteger(vni) || vni < 0 || vni > 16777215) throw new Error(`invalid network config: Backend.VNI must be an integer from 0 to 16777215, got ${JSON.stringify(vni)}`)
  return { dev: `flannel.${vni}`, vni }
}

export class VxlanPeers {
  private verdicts = new Map<string, { value: string; peer?: VxlanPeer }>()
  constructor(private readonly node: NodeView, private readonly vni: number) {}

  compute(leases: Map<string, KV>): VxlanPeer[] {
    const out: VxlanPeer[] = []
    for (const kv of leases.values()) {
      let v = this.verdicts.get(kv.key)
      if (!v || v.value !== kv.value) {
        const r = this.judge(kv)
        v = { value: kv.value, peer: typeof r === 'string' ? undefined : r }
        if (typeof r === 'string' && r) warn(`ignoring lease ${kv.key}: ${r}`)
        this.verdicts.set(kv.key, v)
      }
      if (v.peer) out.push(v.peer)
    }
    for (const k of this.verdicts.keys()) if (!leases.has(k)) this.verdicts.delete(k)
    return out
  }

  /** A peer, or why not ('' = our own lease, skipped silently). */
  private judge(kv: KV): VxlanPeer | string {
    const { node } = this
    try {
      const l = parseLease(node.prefix, kv)
      if (node.localIps.includes(l.publicIp.text) && node.own.some((o) => sameCidr(o, l.subnet))) return ''
      if (l.backendType !== 'vxlan') return `backend type ${JSON.stringify(l.backendType)}, this node runs vxlan`
      const problem = peerProblem(l, node.cfg, node.own[0])
      if (problem) return problem
      if (node.localIps.includes(l.publicIp.text)) return `its PublicIP ${l.publicIp.text} is this node's, but the subnet is not ours`
      return vxlanPeer(l, this.vni)
    } catch (e) {
      return errText(e).replace(`lease ${kv.key}: `, '')
    }
  }
}

export async function planVxlanSync(node: NodeView, dev: string, peers: VxlanPeer[]): Promise<VxlanPlan> {
  const [neigh, fdb, routes, blackholes] = await Promise.all([
    runJson(['ip', '-4', '-j', 'neigh', 'show', 'dev', dev]),
    runJson(['bridge', '-j', 'fdb', 'show', 'dev', dev]),
    runJson(['ip', '-4', '-j', 'route', 'show', 'dev', dev]),
    node.blackhole ? runJson(['ip', '-4', '-j', 'route', 'show', 'table', 'main', 'type', 'blackhole']) : [],
  ])
  const plan = planVxlan(peers, parseVxlanKernel(neigh, fdb, routes, node.networks[0], node.own[0]), dev)
  if (node.blackhole) {
    const lines = blackholeLines(parseKernelRoutes(blackholes, 4), node.own)
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
  constructor(private readonly node: NodeView, private readonly dev: string) {}

  /** One full sync; false when a line of a batch failed (logged once while it repeats). */
  async sync(peers: VxlanPeer[]): Promise<boolean> {
    const plan = await planVxlanSync(this.node, this.dev, peers)
    const errs: string[] = []
    for (const s of vxlanSteps(plan)) {
      const res = await run(s.argv, { input: s.input, nothrow: true })
      if (res.code !== 0) errs.push(`${cmdline(s.argv)}: ${res.stderr.trim().split('\n').slice(0, 6).join('; ') || `exit status ${res.code}`}`)
    }
    const err = errs.join(' | ')
    const bh = plan.blackholes ? `, ${plan.blackholes} blackhole route added` : ''
    if (plan.ipBatch || plan.bridgeBatch) log(`vxlan: ${plan.added} peers added, ${plan.changed} changed, ${plan.removed} removed${bh} (${peers.length} peers)${err ? ', with errors' : ''}`)
    if (err && err !== this.lastError) warn(err)
    this.lastError = err
    return !err
  }
}
