// vxlan's DirectRouting (flannel: Backend "DirectRouting": true): a peer this node reaches without
// a gateway gets a plain host-gw route, `<peer subnet> via <peer PublicIP> dev <iface>`, instead
// of the overlay's neighbour, fdb entry and onlink route; the others stay on the overlay.
// flannel asks the kernel per peer (`RouteGet(PublicIP)`: exactly one route, no gateway); weft
// tests the PublicIP against the external interface's own connected IPv4 networks, read once per
// sync: the same answer for the routes it writes, which name that interface, without a lookup
// per peer. (A peer reachable on-link through another interface stays on the overlay.)
import { containsIp, type Cidr } from '../../net/cidr.ts'
import type { DesiredRoute } from '../hostgw/plan.ts'
import type { VxlanPeer } from './plan.ts'

/** Peers on the interface's networks become direct routes; the rest stay overlay peers. */
export function splitDirect(peers: readonly VxlanPeer[], ifaceNets: readonly Cidr[]): { direct: DesiredRoute[]; overlay: VxlanPeer[] } {
  const direct: DesiredRoute[] = []
  const overlay: VxlanPeer[] = []
  for (const p of peers) {
    if (ifaceNets.some((n) => containsIp(n, p.publicIp))) direct.push({ dst: p.subnet, gateway: p.publicIp })
    else overlay.push(p)
  }
  return { direct, overlay }
}
