// Picking the external interface, in one place, the way flanneld does (pkg/ipmatch): --iface
// entries (an IP or a name) in order, then --iface-regex; with none, the interface holding
// --public-ip, else the one of the default route. Address: global before link-local, permanent
// before dynamic, deprecated skipped. flanneld and the doctor ask for the interface and its
// address (selectIface); the subnet writer, given flanneld's choice, asks only for that link and
// its MTU, whatever its address family (selectLink). Both read the same `ip -j` output.
import { runJson } from '../core/sh.ts'
import { parseIp, type Ip } from './cidr.ts'

/**
 * Why a link name cannot be used, or undefined. The kernel's own rule (dev_valid_name): 1-15
 * bytes, not "." or "..", no '/', ':' or whitespace; and weft's: the name goes into `ip -batch`
 * lines, where # starts a comment and quotes group words. Every part checks names with this.
 */
export function ifaceNameProblem(name: string): string | undefined {
  if (!/^[^\s/:]{1,15}$/.test(name) || Buffer.byteLength(name) > 15 || name === '.' || name === '..') return 'not a valid interface name'
  if (/[#"'\\]/.test(name)) return 'weft does not support # " \' or \\ in interface names'
  return undefined
}

export interface ExtIface {
  name: string
  index: number
  mtu: number
  ip: Ip
}

interface AddrInfo {
  family: string
  local: string
  scope?: string
  dynamic?: boolean
  temporary?: boolean
  deprecated?: boolean
  preferred_life_time?: number
}
export interface LinkAddrs {
  ifindex: number
  ifname: string
  mtu: number
  flags?: string[]
  addr_info?: AddrInfo[]
}

export interface IfaceWanted {
  iface: string[]
  ifaceRegex: string[]
  /** the device of the route towards --iface-can-reach, resolved by selectIface */
  canReachDev?: string
  canReach?: string
  publicIp?: string
}

/** The usable IPv4 address of a link, or undefined. */
export function pickAddr(link: LinkAddrs): Ip | undefined {
  const v4 = (link.addr_info ?? []).filter((a) => a.family === 'inet' && !a.deprecated)
  const rank = (a: AddrInfo) => (a.scope === 'global' ? 0 : a.scope === 'link' ? 2 : 4) + (a.dynamic ? 1 : 0)
  const best = [...v4].sort((a, b) => rank(a) - rank(b))[0]
  return best ? parseIp(best.local, 4) : undefined
}

/** Pure choice from `ip -j addr show` and `ip -j route show default` output; throws with flanneld-like messages. */
export function chooseIface(links: LinkAddrs[], defaultRoutes: { dev?: string }[], want: IfaceWanted): ExtIface {
  const usable = (l: LinkAddrs) => {
    const ip = pickAddr(l)
    return ip ? { name: l.ifname, index: l.ifindex, mtu: l.mtu, ip } : undefined
  }
  const byIp = (ip: string) => links.find((l) => (l.addr_info ?? []).some((a) => a.local === ip))
  if (want.iface.length || want.ifaceRegex.length || want.canReach) {
    for (const spec of want.iface) {
      let isIp = false
      try {
        parseIp(spec)
        isIp = true
      } catch {}
      const l = isIp ? byIp(spec) : links.find((x) => x.ifname === spec)
      if (!l) continue
      const u = usable(l)
      if (u) return isIp ? { ...u, ip: parseIp(spec) } : u
    }
    for (const re of want.ifaceRegex) {
      let rx: RegExp
      try {
        rx = new RegExp(re)
      } catch {
        throw new Error(`invalid --iface-regex ${JSON.stringify(re)}`)
      }
      for (const l of links) {
        const ip = (l.addr_info ?? []).find((a) => a.family === 'inet' && rx.test(a.local))
        if (ip) return { name: l.ifname, index: l.ifindex, mtu: l.mtu, ip: parseIp(ip.local) }
      }
      for (const l of links) {
        const u = rx.test(l.ifname) ? usable(l) : undefined
        if (u) return u
      }
    }
    if (want.canReachDev) {
      const l = links.find((x) => x.ifname === want.canReachDev)
      const u = l && usable(l)
      if (u) return u
    }
    throw new Error(
      `failed to find any interface to use (--iface ${want.iface.join(',') || '-'}, --iface-regex ${want.ifaceRegex.join(',') || '-'}, --iface-can-reach ${want.canReach || '-'})`,
    )
  }
  if (want.publicIp) {
    const l = byIp(want.publicIp)
    if (!l) throw new Error(`error looking up interface: no interface holds the public IP ${want.publicIp}`)
    return { name: l.ifname, index: l.ifindex, mtu: l.mtu, ip: parseIp(want.publicIp) }
  }
  const dev = defaultRoutes.find((r) => r.dev)?.dev
  if (!dev) throw new Error('failed to get default interface: no default route (use --iface)')
  const l = links.find((x) => x.ifname === dev)
  const u = l && usable(l)
  if (!u) throw new Error(`failed to get default interface: ${dev} has no IPv4 address`)
  return u
}

const readLinks = () => runJson<LinkAddrs[]>(['ip', '-j', 'addr', 'show'])
const readDefaultRoutes = () => runJson<{ dev?: string }[]>(['ip', '-j', '-4', 'route', 'show', 'default'])

export async function selectIface(want: IfaceWanted): Promise<ExtIface> {
  const links = await readLinks()
  if (want.canReach && !want.iface.length && !want.ifaceRegex.length) {
    const r = await runJson<{ dev?: string }[]>(['ip', '-j', 'route', 'get', want.canReach]).catch(() => [])
    want = { ...want, canReachDev: r[0]?.dev }
  }
  const routes = want.iface.length || want.publicIp ? [] : await readDefaultRoutes()
  return chooseIface(links, routes, want)
}

/** The link holding an address, compared by value (any spelling of an IPv6 address). */
function holding(links: LinkAddrs[], ip: Ip): LinkAddrs | undefined {
  return links.find((l) =>
    l.addr_info?.some((a) => {
      try {
        const x = parseIp(a.local)
        return x.value === ip.value && x.family === ip.family
      } catch {
        return false
      }
    }),
  )
}

/** Pure choice of the link alone (selectLink), from `ip -j addr show` and the default route's device. */
export function chooseLink(links: LinkAddrs[], defaultRoutes: { dev?: string }[], iface: string, publicIp?: Ip): { name: string; mtu: number } {
  const found = (l: LinkAddrs) => ({ name: l.ifname, mtu: l.mtu })
  if (iface) {
    let ip: Ip | undefined
    try {
      ip = parseIp(iface)
    } catch {}
    if (ip) {
      const l = holding(links, ip)
      if (!l) throw new Error(`--iface ${iface}: no interface has that address`)
      return found(l)
    }
    const why = ifaceNameProblem(iface)
    if (why) throw new Error(`--iface ${JSON.stringify(iface)}: ${why}`)
    const l = links.find((x) => x.ifname === iface)
    if (!l) throw new Error(`--iface ${iface}: no such interface`)
    if (!l.mtu) throw new Error(`--iface ${iface}: no MTU in ip -j addr show`)
    return found(l)
  }
  if (publicIp) {
    const l = holding(links, publicIp)
    if (!l) throw new Error(`error looking up interface: no interface has --public-ip ${publicIp.text} (give --iface or --mtu)`)
    return found(l)
  }
  const dev = defaultRoutes.find((r) => r.dev)?.dev
  if (!dev) throw new Error('no default route to pick the external interface from (give --iface or --mtu)')
  return chooseLink(links, [], dev)
}

/**
 * The external link and its MTU, for the subnet writer: --iface (a name, or an address a link
 * holds); else the link holding --public-ip; else the default route's. No address needed on it.
 */
export async function selectLink(iface: string, publicIp?: Ip): Promise<{ name: string; mtu: number }> {
  const [links, routes] = await Promise.all([readLinks(), iface || publicIp ? [] : readDefaultRoutes()])
  return chooseLink(links, routes, iface, publicIp)
}

/** The interface's first usable global IPv6 address (permanent before dynamic; deprecated and tentative skipped), or ''. */
export async function globalIpv6(ifname: string): Promise<string> {
  type A = { local?: string; scope?: string; dynamic?: boolean; deprecated?: boolean; tentative?: boolean; dadfailed?: boolean }
  const links = await runJson<{ addr_info?: A[] }[]>(['ip', '-j', '-6', 'addr', 'show', 'dev', ifname, 'scope', 'global']).catch(() => [])
  const addrs = links.flatMap((l) => l.addr_info ?? []).filter((a) => a.local && a.scope === 'global' && !a.deprecated && !a.tentative && !a.dadfailed)
  return (addrs.find((a) => !a.dynamic) ?? addrs[0])?.local ?? ''
}
