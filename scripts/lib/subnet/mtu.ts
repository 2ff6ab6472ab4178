// FLANNEL_MTU: the external interface's MTU minus what the backend's encapsulation costs
// (reference/flanneld.md section 1). The interface itself is net/iface.ts's selectLink.
import type { Backend } from '../formats/backend.ts'

/** The MTU pods get for a backend, given the external interface's MTU. */
export function backendMtu(backend: Backend, ifMtu: number): number {
  switch (backend.type) {
    case 'vxlan':
      return (backend.mtu || ifMtu) - 50
    case 'wireguard':
      return (backend.mtu || ifMtu) - 80
    case 'ipip':
      return ifMtu - 20
    case 'udp':
      return ifMtu - 28
    case 'ipsec':
      return ifMtu - 77 - (backend.udpEncap ? 8 : 0)
    default: // host-gw, alloc and the cloud routing backends add no header
      return ifMtu
  }
}
