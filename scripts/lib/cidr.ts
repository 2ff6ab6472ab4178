// Addresses and ranges, parsed once with ip-num into typed values. Text is Go's: CIDRs masked to
// their network ("10.1.17.1/24" -> "10.1.17.0/24", as net.ParseCIDR does), IPv6 in compressed
// form. Anything that is not a plain address (spaces, shell words, ports) is rejected here.
import { IPv4, IPv6, IPv4CidrRange, IPv6CidrRange, collapseIPv6Number } from 'ip-num'

export type Family = 4 | 6

export interface Ip {
  family: Family
  value: bigint
  text: string
}

export interface Cidr {
  family: Family
  /** network address (host bits cleared) */
  net: bigint
  prefix: number
  /** canonical masked text, e.g. "10.244.1.0/24" */
  text: string
  /** the network address as text, e.g. "10.244.1.0" */
  ipText: string
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const V6 = /^[0-9a-fA-F:.]+$/

export function bits(f: Family): number {
  return f === 4 ? 32 : 128
}

export function formatIp(family: Family, value: bigint): string {
  // IPv4 by hand: ip-num's round trip costs ~10 us an address, which a 5000-peer sync feels.
  if (family === 4) {
    const n = Number(value)
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
  }
  return collapseIPv6Number(IPv6.fromBigInt(value).toString())
}

/** Parse a plain IPv4 or IPv6 address, or throw `invalid IP address: <s>`. */
export function parseIp(s: string, want?: Family): Ip {
  const bad = () => new Error(`invalid IP address: ${s}`)
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) throw bad()
  let ip: Ip
  if (V4.test(s)) {
    // V4 already checked every octet (0-255, no leading zeros): the value is plain arithmetic.
    const o = s.split('.')
    ip = { family: 4, value: BigInt(+o[0] * 16777216 + +o[1] * 65536 + +o[2] * 256 + +o[3]), text: s }
  }
  else if (s.includes(':') && V6.test(s)) {
    try {
      const v = IPv6.fromString(s).getValue()
      ip = { family: 6, value: v, text: formatIp(6, v) }
    } catch {
      throw bad()
    }
  } else throw bad()
  if (want && ip.family !== want) throw new Error(`not an IPv${want} address: ${s}`)
  return ip
}

export function maskOf(family: Family, prefix: number): bigint {
  const b = BigInt(bits(family))
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n)
}

export function makeCidr(family: Family, addr: bigint, prefix: number): Cidr {
  const net = addr & maskOf(family, prefix)
  const ipText = formatIp(family, net)
  return { family, net, prefix, ipText, text: `${ipText}/${prefix}` }
}

/** Parse "a.b.c.d/n" or "v6/n", masking host bits; throw `invalid CIDR address: <s>`. */
export function parseCidr(s: string, want?: Family): Cidr {
  const bad = () => new Error(`invalid CIDR address: ${s}`)
  if (typeof s !== 'string') throw bad()
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s)
  if (!m) throw bad()
  let ip: Ip
  try {
    ip = parseIp(m[1])
  } catch {
    throw bad()
  }
  const prefix = Number(m[2])
  if (prefix > bits(ip.family) || (m[2].length > 1 && m[2].startsWith('0'))) throw bad()
  if (want && ip.family !== want) throw new Error(`not an IPv${want} CIDR: ${s}`)
  return makeCidr(ip.family, ip.value, prefix)
}

/** True when s parses and has no host bits set (a network address). */
export function isNetworkCidr(s: string): boolean {
  try {
    const c = parseCidr(s)
    return c.text === s || `${parseIp(s.split('/')[0]).text}/${c.prefix}` === c.text
  } catch {
    return false
  }
}

export function lastAddr(c: Cidr): bigint {
  return c.net | ((1n << BigInt(bits(c.family) - c.prefix)) - 1n)
}

export function containsIp(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && (ip.value & maskOf(c.family, c.prefix)) === c.net
}

/** inner lies wholly inside outer (equal counts as inside). */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && (inner.net & maskOf(outer.family, outer.prefix)) === outer.net
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return containsCidr(a, b) || containsCidr(b, a)
}

export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.net === b.net && a.prefix === b.prefix
}

/** The n-th address of a network: nth(10.244.1.0/24, 1) = 10.244.1.1 */
export function nthIp(c: Cidr, n: bigint): Ip {
  const v = c.net + n
  return { family: c.family, value: v, text: formatIp(c.family, v) }
}

// ip-num range objects, for callers that want its API (iteration, splitting).
export function toRange(c: Cidr): IPv4CidrRange | IPv6CidrRange {
  return c.family === 4 ? IPv4CidrRange.fromCidr(c.text) : IPv6CidrRange.fromCidr(c.text)
}
