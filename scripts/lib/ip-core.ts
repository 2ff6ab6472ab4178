// Address parsing and Go-style text without ip-num, for start-up-critical bundles (the CNI plugin
// runs once per pod; loading ip-num costs ~9 ms of every run). Same results as cidr.ts, which
// keeps ip-num: test/unit/cni-ip-core.test.ts checks both against each other on random input.
// IPv6 text is RFC 5952 (lowercase, longest zero run compressed, leftmost on a tie, runs of 2+).
import type { Cidr, Family, Ip } from './cidr.ts'

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HEX = /^[0-9a-fA-F]{1,4}$/

export function bits(f: Family): number {
  return f === 4 ? 32 : 128
}

function v4Value(s: string): bigint {
  return s.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n)
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
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.')
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

export function maskOf(family: Family, prefix: number): bigint {
  const b = BigInt(bits(family))
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n)
}

export function makeCidr(family: Family, addr: bigint, prefix: number): Cidr {
  const net = addr & maskOf(family, prefix)
  const ipText = formatIp(family, net)
  return { family, net, prefix, ipText, text: `${ipText}/${prefix}` }
}

/** Parse "a.b.c.d/n" or "v6/n", masking host bits; throw `invalid CIDR address: <s>` (as cidr.ts). */
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
