// FLANNEL_MTU: the external interface's MTU minus what the backend's encapsulation costs
// (reference/flanneld.md section 1), and the external interface's MTU read with `ip -j`.
import { runJson, run } from '../core/sh.ts'
import { parseIp, type Ip } from '../net/cidr.ts'
import { ifaceNameProblem } from '../net/iface.ts'
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

interface IpLink {
  ifname: string
  mtu: number
}
interface IpAddr extends IpLink {
  addr_info?: { family: string; local: string }[]
}
interface IpRoute {
  dev?: string
}

/**
 * The external interface and its MTU, chosen as flanneld chooses it: --iface (a name, or an
 * address held by an interface); else the interface holding --public-ip; else the default route's.
 */
export async function externalInterface(iface: string, publicIp?: Ip): Promise<IpLink> {
  if (iface) {
    let ip: Ip | undefined
    try {
      ip = parseIp(iface)
    } catch {}
    if (ip) return await holding(ip, `--iface ${iface}: no interface has that address`)
    const why = ifaceNameProblem(iface)
    if (why) throw new Error(`--iface ${JSON.stringify(iface)}: ${why}`)
    const r = await run(['ip', '-j', 'link', 'show', 'dev', iface], { nothrow: true })
    if (r.code !== 0) throw new Error(`--iface ${iface}: no such interface`)
    const links = JSON.parse(r.stdout) as IpLink[]
    if (!links[0]?.mtu) throw new Error(`--iface ${iface}: no MTU in ip -j link show`)
    return { ifname: links[0].ifname, mtu: links[0].mtu }
  }
  if (publicIp) return await holding(publicIp, `error looking up interface: no interface has --public-ip ${publicIp.text} (give --iface or --mtu)`)
  const routes = await runJson<IpRoute[]>(['ip', '-j', '-4', 'route', 'show', 'default'])
  const dev = routes.find((r) => r.dev)?.dev
  if (!dev) throw new Error('no default route to pick the external interface from (give --iface or --mtu)')
  return await externalInterface(dev)
}

async function holding(ip: Ip, msg: string): Promise<IpLink> {
  const links = await runJson<IpAddr[]>(['ip', '-j', 'addr', 'show'])
  const l = links.find((x) =>
    x.addr_info?.some((a) => {
      try {
        return parseIp(a.local).value === ip.value && parseIp(a.local).family === ip.family
      } catch {
        return false
      }
    }),
  )
  if (!l) throw new Error(msg)
  return { ifname: l.ifname, mtu: l.mtu }
}
