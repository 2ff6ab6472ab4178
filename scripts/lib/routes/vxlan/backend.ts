// vxlan as a route syncer backend (backend.ts): per valid peer, its neighbour, fdb entry and onlink
// route on flannel.<VNI> (IPv6 peers on flannel-v6.<VNI>; both made by the subnet writer). With
// DirectRouting, peers on the external interface's networks get host-gw routes instead
// (direct.ts), and the gateway routes through --iface inside the network are reconciled as the
// host-gw backend does (a peer's direct route goes when it leaves). Without it, routes on the
// external interface are never touched, as in flannel. Every sync is a full one.
import type { VxlanBackend as VxlanConfig } from '../../formats/backend.ts'
import { fail } from '../../core/cli.ts'
import { batchStep, readIfaceNets } from '../kernel.ts'
import { readLink } from '../../subnet/vxlan-device.ts'
import type { Backend } from '../backend.ts'
import type { SyncOutcome } from '../sync-report.ts'
import type { NodeView } from '../peers.ts'
import { planSummary } from '../hostgw/plan.ts'
import { RouteSyncer, planSync } from '../hostgw/sync.ts'
import { splitDirect } from './direct.ts'
import type { VxlanPeer } from './plan.ts'
import { VxlanSyncer, peerKey, planVxlanSync, vxlanDev, vxlanPeers, vxlanSteps } from './sync.ts'

/** The backend, once its devices are there (a missing one is a runtime failure: the writer makes them). */
export async function openVxlanBackend(node: NodeView): Promise<Backend<VxlanPeer>> {
  if (!node.networks.some((n) => n.family === 4)) fail('vxlan: IPv6-only networks are not supported by weft-routes yet')
  const cfg = node.cfg.backend as VxlanConfig
  const { dev, vni } = vxlanDev(cfg)
  const direct = cfg.directRouting
  const v6 = node.networks.some((n) => n.family === 6)
  // Dual stack: IPv6 peers go on flannel-v6.<VNI>, made by the subnet writer as flannel.<VNI> is.
  const dev6 = v6 ? `flannel-v6.${vni}` : undefined
  for (const d of [dev, dev6]) if (d && !(await readLink(d))) fail(`vxlan device ${d} does not exist (the subnet writer creates it)`)
  const directNode: NodeView = { ...node, ifaceRoutesOnly: true, blackhole: false }
  // The interface's networks decide who is direct: read again at every sync (a renumbered
  // interface moves peers between overlay and direct without a restart).
  let ifaceNets = node.ifaceNets ?? []
  const split = async (all: VxlanPeer[]) => {
    if (!direct) return { direct: [], overlay: all }
    ifaceNets = await readIfaceNets(node.iface).catch(() => ifaceNets)
    return splitDirect(all, ifaceNets)
  }
  const syncers = [new VxlanSyncer(node, dev, 4), ...(dev6 ? [new VxlanSyncer(node, dev6, 6)] : [])]
  const routes = direct ? new RouteSyncer(directNode) : undefined

  return {
    type: 'vxlan',
    what: `vxlan ${dev}${direct ? ' (DirectRouting)' : ''}`,
    desire: (l) => vxlanPeers(l, vni, v6),
    keyOf: peerKey,
    async plan(all) {
      const want = await split(all)
      const plan = await planVxlanSync(node, dev, want.overlay)
      const plan6 = dev6 ? await planVxlanSync(node, dev6, want.overlay, 6) : undefined
      const r = direct ? await planSync(directNode, want.direct) : undefined
      const v6 = plan6 ? `; IPv6 ${plan6.added} peers added, ${plan6.changed} changed, ${plan6.removed} removed` : ''
      return {
        steps: [...vxlanSteps(plan), ...(plan6 ? vxlanSteps(plan6) : []), ...(r?.batch ? [batchStep(r.batch)] : [])],
        summary: `${plan.added} peers added, ${plan.changed} changed, ${plan.removed} removed${v6}${r ? `; direct routes ${planSummary(r)}` : ''}`,
      }
    },
    // The overlay first: a peer that turned direct loses its onlink route before its direct route
    // is written at the same destination (and the other way round, `route replace` moves it back).
    async sync(all) {
      const want = await split(all)
      for (const s of syncers) await s.sync(want.overlay)
      if (routes) await routes.sync(want.direct, true)
      const outcomes: SyncOutcome[] = syncers.flatMap((s) =>
        s.last
          ? [
              {
                batch: s.last.plan.bridgeBatch + s.last.plan.ipBatch,
                err: s.last.err,
                added: s.last.plan.added,
                replaced: s.last.plan.changed,
                removed: s.last.plan.removed,
                planned: s.last.planned,
              },
            ]
          : [],
      )
      if (routes?.last) outcomes.push({ ...routes.last.plan, err: routes.last.err, planned: routes.last.planned })
      return { full: true, outcomes }
    },
  }
}
