// --ip-blackhole-route (flanneld's flag since v0.27.1, made for Canal, where no bridge route
// covers the node's subnet): a blackhole route for our own subnet(s), so a packet for a pod
// address nobody holds is dropped on this node instead of leaving by the default route (and
// maybe coming back: a loop). flanneld re-adds it when it is missing; so does every full sync here.
//
// weft gives the route metric 10000. The bridge's own route to the subnet (`10.244.1.0/24 dev
// cni0 proto kernel`, metric 0; IPv6 256) then always wins, whichever came first, and the
// blackhole catches only what nothing else routes: before the first pod, while cni0 is down,
// or with a CNI that routes each pod on its own (/32 routes).
import type { Cidr } from '../net/cidr.ts'
import type { KernelRoute } from './hostgw/plan.ts'

export const BLACKHOLE_METRIC = 10000

/** `ip -batch` lines adding the blackhole route of each own subnet that lacks one. */
export function blackholeLines(kernel: readonly KernelRoute[], own: readonly Cidr[]): string[] {
  const have = new Set(kernel.filter((r) => r.type === 'blackhole' && r.metric === BLACKHOLE_METRIC).map((r) => r.dst.text))
  return own.filter((o) => !have.has(o.text)).map((o) => `route replace blackhole ${o.text} metric ${BLACKHOLE_METRIC}`)
}
