// Address arithmetic and Go-style text (CIDRs masked as net.ParseCIDR does, IPv6 compressed), and
// a parser without ip-num for start-up-critical bundles: the CNI plugin runs once per pod and
// loading ip-num costs ~9 ms of every run. The daemons parse through cidr.ts, which validates
// with ip-num; test/unit/cni-ip-core.test.ts checks both parsers agree on random input.
// IPv6 text is RFC 5952 (lowercase, longest zero run compressed, leftmost on a tie, runs of 2+).
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
const HEX = /^[0-9a-fA-F]{1,4}$/

export function bits(f: Family): number {
  return f === 4 ? 32 : 128
}

function v4Value(s: string): bigint {
  const o = s.split('.')
  return BigInt(+o[0] * 16777216 + +o[1] * 65536 + +o[2] * 256 + +o[3])
}

function v6Value(text: string): bigint | null {
  let s = text
  // An embedded dotted IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  if (s.includes('.')) {
    const at = s.lastIndexOf(':') + 1
    const dotted = s.slice(at)
    if (!V4.test(dotted)) return null
    const v = Number(v4Value(dotted))
    s = `${s.slice(0, at)}${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}`
  }
  const dbl = s.indexOf('::')
  if (dbl !== s.lastIndexOf('::')) return null
  const parts = (x: string) => (x === '' ? [] : x.split(':'))
  let groups: string[]
  if (dbl >= 0) {
    const head = parts(s.slice(0, dbl))
    const rest = parts(s.slice(dbl + 2))
    if (head.length + rest.length > 7) return null
    groups = [...head, ...Array<string>(8 - head.length - rest.length).fill('0'), ...rest]
  } else {
    groups = s.split(':')
    if (groups.length !== 8) return null
  }
  let v = 0n
  for (const g of groups) {
    if (!HEX.test(g)) return null
    v = (v << 16n) | BigInt(parseInt(g, 16))
  }
  return v
}

export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    // Plain numbers: a route sync formats thousands of these, and BigInt shifts are slow.
    const n = Number(value)
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
  }
  const g: number[] = []
  for (let i = 7; i >= 0; i--) g.push(Number((value >> BigInt(i * 16)) & 0xffffn))
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) [best, bestLen] = [i, j - i]
    i = j
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':')
  if (best < 0) return hex(g)
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`
}

/** Parse a plain IPv4 or IPv6 address, or throw `invalid IP address: <s>` (as cidr.ts parseIp). */
export function parseIp(s: string, want?: Family): Ip {
  const bad = () => new Error(`invalid IP address: ${s}`)
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) throw bad()
  let ip: Ip
  if (V4.test(s)) ip = { family: 4, value: v4Value(s), text: s }
  else if (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s)) {
    const v = v6Value(s)
    if (v === null) throw bad()
    ip = { family: 6, value: v, text: formatIp(6, v) }
  } else throw bad()
  if (want && ip.family !== want) throw new Error(`not an IPv${want} address: ${s}`)
  return ip
}

const masks: Record<Family, bigint[]> = { 4: [], 6: [] }
export function maskOf(family: Family, prefix: number): bigint {
  const cached = masks[family][prefix]
  if (cached !== undefined) return cached
  const b = BigInt(bits(family))
  return (masks[family][prefix] = ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n))
}

export function makeCidr(family: Family, addr: bigint, prefix: number): Cidr {
  const net = addr & maskOf(family, prefix)
  const ipText = formatIp(family, net)
  return { family, net, prefix, ipText, text: `${ipText}/${prefix}` }
}

/** A CIDR parser on top of an address parser: "a.b.c.d/n" or "v6/n", host bits masked, else
 * `invalid CIDR address: <s>`. cidr.ts builds one on ip-num; this module's own is below. */
export function cidrParser(parseAddr: (s: string) => Ip): (s: string, want?: Family) => Cidr {
  return (s, want) => {
    const bad = () => new Error(`invalid CIDR address: ${s}`)
    if (typeof s !== 'string') throw bad()
    const m = /^([^/]+)\/(\d{1,3})$/.exec(s)
    if (!m) throw bad()
    let ip: Ip
    try {
      ip = parseAddr(m[1])
    } catch {
      throw bad()
    }
    const prefix = Number(m[2])
    if (prefix > bits(ip.family) || (m[2].length > 1 && m[2].startsWith('0'))) throw bad()
    if (want && ip.family !== want) throw new Error(`not an IPv${want} CIDR: ${s}`)
    return makeCidr(ip.family, ip.value, prefix)
  }
}

export const parseCidr = cidrParser((s) => parseIp(s))

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
