// host-gw as a route syncer backend (backend.ts): per valid peer, `<subnet> via <PublicIP> dev
// <iface>` per family; every gateway route inside the network that no peer asks for goes. A sync
// for a watch event plans only the touched destinations, against what the last batch left.
import { batchStep, type KernelRoute, type PreparedBatch } from '../kernel.ts'
import type { Backend } from '../backend.ts'
import type { NodeView } from '../peers.ts'
import type { DesiredRoute } from './plan.ts'
import { RouteSyncer, hostGwRoutes, planSync, routeKey } from './sync.ts'

/**
 * @param start what main has ready for the first sync: an `ip -batch` already started, and the
 * kernel's routes when read just now (used once, instead of reading them again); warm: a daemon's,
 * the next batch's `ip` is started as soon as a batch is applied (RouteSyncer)
 */
export function hostGwBackend(node: NodeView, start: { prepared?: PreparedBatch; kernel?: KernelRoute[]; warm?: boolean } = {}): Backend<DesiredRoute> {
  const routes = new RouteSyncer(node, start.prepared, start.warm)
  let fresh = start.kernel
  const kernel = () => {
    const k = fresh
    fresh = undefined
    return k
  }
  return {
    type: 'host-gw',
    what: '',
    desire: (l) => hostGwRoutes(node, l),
    keyOf: routeKey,
    async plan(want) {
      const p = await planSync(node, want, kernel())
      return { steps: p.batch ? [batchStep(p.batch)] : [], summary: `${p.added} added, ${p.replaced} replaced, ${p.removed} removed` }
    },
    async sync(want, full, touched) {
      await routes.sync(want, full, touched, kernel())
      const l = routes.last
      return l && { full, outcomes: [{ ...l.plan, err: l.err, planned: l.planned }] }
    },
  }
}
