// One registry entry: <prefix>/subnets/10.5.52.0-24 (dual stack 10.5.52.0-24&fc00::-64) holding
// flannel's LeaseAttrs JSON. Everything in it comes from the network (any node, or anyone with
// write access to etcd), so it is parsed strictly here and checked against the network config
// before a route, a neighbour or an iptables rule is built from it.
import { goField } from './go-json.ts'
import { parseCidr, parseIp, containsCidr, overlaps, sameCidr, type Cidr, type Ip } from '../net/cidr.ts'
import type { NetworkConfig } from './net-conf.ts'

export interface Lease {
  key: string
  subnet: Cidr
  ipv6Subnet?: Cidr
  publicIp: Ip
  publicIpv6?: Ip
  backendType: string
  backendData: Record<string, unknown> | null
  /** the IPv6 backend's data (vxlan: flannel-v6.<VNI>'s VNI and VtepMAC), null when absent */
  backendV6Data: Record<string, unknown> | null
  /** decimal etcd lease id, "0" if none */
  etcdLease: string
}

export interface LeaseAttrs {
  publicIp: Ip
  publicIpv6?: Ip
  backendType: string
  backendData: Record<string, unknown> | null
  backendV6Data?: Record<string, unknown> | null
}

/** Go's path.Join(prefix, "subnets"): no doubled or trailing slash. */
export function subnetsPrefix(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/subnets/`
}

export function leaseKey(prefix: string, subnet: Cidr, ipv6Subnet?: Cidr): string {
  let k = `${subnetsPrefix(prefix)}${subnet.ipText}-${subnet.prefix}`
  if (ipv6Subnet) k += `&${ipv6Subnet.ipText}-${ipv6Subnet.prefix}`
  return k
}

/**
 * flannel's LeaseAttrs marshalled by Go: PublicIP, PublicIPv6 (null when absent), BackendType,
 * BackendData (omitted when empty, as json.RawMessage with omitempty is).
 */
export function leaseValue(l: LeaseAttrs): string {
  const o: Record<string, unknown> = {
    PublicIP: l.publicIp.text,
    PublicIPv6: l.publicIpv6 ? l.publicIpv6.text : null,
  }
  if (l.backendType) o.BackendType = l.backendType
  if (l.backendData) o.BackendData = l.backendData
  if (l.backendV6Data) o.BackendV6Data = l.backendV6Data
  return JSON.stringify(o)
}

// flannel's regex, anchored at both ends and with the dot escaped: the whole key must match.
const KEY = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})-(\d{1,2})(?:&([a-f\d:]+)-(\d{1,3}))?$/

/** The subnet(s) a key names, or a reason it names none. */
export function parseLeaseKey(prefix: string, key: string): { subnet: Cidr; ipv6Subnet?: Cidr } {
  const sp = subnetsPrefix(prefix)
  if (!key.startsWith(sp)) throw new Error(`lease key ${JSON.stringify(key)} is not under ${sp}`)
  const m = KEY.exec(key.slice(sp.length))
  if (!m) throw new Error(`lease key ${JSON.stringify(key)} does not name a subnet (want ${sp}10.244.1.0-24)`)
  const exact = (ip: string, len: string, fam: 4 | 6): Cidr => {
    const c = parseCidr(`${ip}/${len}`, fam)
    // Masking changed the address: the key's text is not its network's.
    if (c.ipText !== ip && c.net !== parseIp(ip, fam).value) throw new Error(`lease key ${JSON.stringify(key)}: ${ip}/${len} has host bits set`)
    return c
  }
  try {
    const subnet = exact(m[1], m[2], 4)
    const ipv6Subnet = m[3] !== undefined ? exact(m[3], m[4], 6) : undefined
    return { subnet, ipv6Subnet }
  } catch (e) {
    const msg = (e as Error).message
    throw new Error(msg.startsWith('lease key') ? msg : `lease key ${JSON.stringify(key)}: ${msg}`)
  }
}

const field = goField

/** Parse one registry entry; throws a reason naming the key and the bad field. */
export function parseLease(prefix: string, kv: { key: string; value: string; lease?: string }): Lease {
  const { subnet, ipv6Subnet } = parseLeaseKey(prefix, kv.key)
  const bad = (why: string) => new Error(`lease ${kv.key}: ${why}`)
  let j: unknown
  try {
    j = JSON.parse(kv.value)
  } catch {
    throw bad(`value is not JSON: ${JSON.stringify(kv.value.slice(0, 80))}`)
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('value is not a JSON object')
  const o = j as Record<string, unknown>
  const pub = field(o, 'PublicIP')
  if (typeof pub !== 'string' || pub === '') throw bad(`PublicIP ${JSON.stringify(pub ?? null)} is not an IPv4 address`)
  let publicIp: Ip
  try {
    publicIp = parseIp(pub, 4)
  } catch {
    throw bad(`PublicIP ${JSON.stringify(pub)} is not a plain IPv4 address`)
  }
  const pub6 = field(o, 'PublicIPv6')
  let publicIpv6: Ip | undefined
  if (pub6 !== undefined && pub6 !== null) {
    if (typeof pub6 !== 'string') throw bad(`PublicIPv6 ${JSON.stringify(pub6)} is not an IPv6 address`)
    try {
      publicIpv6 = parseIp(pub6, 6)
    } catch {
      throw bad(`PublicIPv6 ${JSON.stringify(pub6)} is not a plain IPv6 address`)
    }
  }
  const bt = field(o, 'BackendType') ?? ''
  if (typeof bt !== 'string' || !/^[a-z0-9-]*$/i.test(bt)) throw bad(`BackendType ${JSON.stringify(bt)} is not a backend name`)
  const bd = field(o, 'BackendData')
  if (bd !== undefined && bd !== null && (typeof bd !== 'object' || Array.isArray(bd))) throw bad(`BackendData ${JSON.stringify(bd).slice(0, 80)} is not an object`)
  const bd6 = field(o, 'BackendV6Data')
  if (bd6 !== undefined && bd6 !== null && (typeof bd6 !== 'object' || Array.isArray(bd6))) throw bad('BackendV6Data is not an object')
  return {
    key: kv.key,
    subnet,
    ipv6Subnet,
    publicIp,
    publicIpv6,
    backendType: bt.toLowerCase(),
    backendData: (bd as Record<string, unknown> | null | undefined) ?? null,
    backendV6Data: (bd6 as Record<string, unknown> | null | undefined) ?? null,
    etcdLease: kv.lease && /^\d+$/.test(kv.lease) ? kv.lease : '0',
  }
}

// Addresses a route's gateway must never be: nothing, loopback, link-local, multicast, broadcast.
function badGateway(ip: Ip): string | undefined {
  const v = ip.value
  if (ip.family === 4) {
    if (v === 0n) return 'is unspecified'
    if (v >> 24n === 127n) return 'is a loopback address'
    if (v >> 16n === 0xa9fen) return 'is link-local'
    if (v >> 28n === 0xen) return 'is a multicast address'
    if (v === 0xffffffffn) return 'is the broadcast address'
    return undefined
  }
  if (v === 0n) return 'is unspecified'
  if (v === 1n) return 'is a loopback address'
  if (v >> 120n === 0xffn) return 'is a multicast address'
  if (v >> 118n === 0x3fan) return 'is link-local'
  if (v >> 32n === 0xffffn) return 'is an IPv4-mapped address'
  return undefined
}

/**
 * Why a peer lease must be ignored, or undefined when it is usable: a subnet that is 0.0.0.0/0,
 * outside the network, of the wrong prefix length, of the wrong family, equal to or overlapping
 * our own; a public IP that cannot be a gateway. BackendType is left to the caller (a backend
 * ignores leases that are not its own type, as flannel's do).
 */
export function peerProblem(l: Lease, cfg: NetworkConfig, own?: Cidr, own6?: Cidr): string | undefined {
  const s = l.subnet
  if (cfg.enableIPv4) {
    if (s.family !== 4) return `subnet ${s.text} is not IPv4`
    if (s.prefix === 0) return `subnet ${s.text} would cover every address`
    if (!cfg.network || !containsCidr(cfg.network, s)) return `subnet ${s.text} is outside the network ${cfg.network?.text ?? '(none)'}`
    if (s.prefix !== cfg.subnetLen) return `subnet ${s.text} has prefix /${s.prefix}, the network uses /${cfg.subnetLen}`
    const g = badGateway(l.publicIp)
    if (g) return `PublicIP ${l.publicIp.text} ${g}`
  }
  if (cfg.enableIPv6 && l.ipv6Subnet) {
    const s6 = l.ipv6Subnet
    if (!cfg.ipv6Network || !containsCidr(cfg.ipv6Network, s6)) return `IPv6 subnet ${s6.text} is outside the IPv6 network ${cfg.ipv6Network?.text ?? '(none)'}`
    if (s6.prefix !== cfg.ipv6SubnetLen) return `IPv6 subnet ${s6.text} has prefix /${s6.prefix}, the network uses /${cfg.ipv6SubnetLen}`
    if (!l.publicIpv6) return `IPv6 subnet ${s6.text} has no PublicIPv6`
    const g = badGateway(l.publicIpv6)
    if (g) return `PublicIPv6 ${l.publicIpv6.text} ${g}`
  }
  if (own) {
    const mine = own.family === 6 ? l.ipv6Subnet : s
    if (mine && mine.family === own.family) {
      if (sameCidr(mine, own)) return `subnet ${mine.text} is our own`
      if (overlaps(mine, own)) return `subnet ${mine.text} overlaps our own ${own.text}`
    } else if (own.family === 6 && !l.ipv6Subnet) return `lease has no IPv6 subnet`
  }
  if (own6 && l.ipv6Subnet) {
    if (sameCidr(l.ipv6Subnet, own6)) return `subnet ${l.ipv6Subnet.text} is our own`
    if (overlaps(l.ipv6Subnet, own6)) return `subnet ${l.ipv6Subnet.text} overlaps our own ${own6.text}`
  }
  return undefined
}
