// FLANNEL_MTU: the external interface's MTU minus what the backend's encapsulation costs
// (reference/flanneld.md section 1), and the external interface's MTU read with `ip -j`.
import { runJson, run } from '../core/sh.ts'
import { parseIp, type Ip } from '../net/cidr.ts'

function backendMtuField(raw: Record<string, unknown>): number | undefined {
  const k = Object.keys(raw).find((x) => x.toLowerCase() === 'mtu')
  const v = k === undefined ? undefined : raw[k]
  if (v === undefined || v === null || v === 0) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 68 || v > 65535) throw new Error(`invalid network config: Backend.MTU must be an integer from 68 to 65535, got ${JSON.stringify(v)}`)
  return v
}

function flag(raw: Record<string, unknown>, name: string): boolean {
  const k = Object.keys(raw).find((x) => x.toLowerCase() === name.toLowerCase())
  return k !== undefined && raw[k] === true
}

/** The MTU pods get for a backend, given the external interface's MTU. */
export function backendMtu(backend: { type: string; raw: Record<string, unknown> }, ifMtu: number): number {
  switch (backend.type) {
    case 'host-gw':
    case 'alloc':
      return ifMtu
    case 'vxlan':
      return (backendMtuField(backend.raw) ?? ifMtu) - 50
    case 'wireguard':
      return (backendMtuField(backend.raw) ?? ifMtu) - 80
    case 'ipip':
      return ifMtu - 20
    case 'udp':
      return ifMtu - 28
    case 'ipsec':
      return ifMtu - 77 - (flag(backend.raw, 'UDPEncap') ? 8 : 0)
    default:
      throw new Error(`unknown backend type ${JSON.stringify(backend.type)}`)
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

const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/

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
    if (!IFNAME.test(iface)) throw new Error(`--iface ${JSON.stringify(iface)}: not an interface name`)
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
  const l = links.find((x) => x.addr_info?.some((a) => {
    try {
      return parseIp(a.local).value === ip.value && parseIp(a.local).family === ip.family
    } catch {
      return false
    }
  }))
  if (!l) throw new Error(msg)
  return { ifname: l.ifname, mtu: l.mtu }
}
