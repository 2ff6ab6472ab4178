// Addresses and ranges for the daemons: every address from a flag, a file or the registry is
// validated here with ip-num (IPv6) or a strict dotted-quad pattern (IPv4, by arithmetic: ip-num's
// round trip costs ~10 us an address, which a 5000-peer sync feels) into typed values. Text is
// Go's, from ip-core.ts, which holds the arithmetic shared with the CNI plugin's lighter parser.
// Anything that is not a plain address (spaces, shell words, ports) is rejected.
import { createRequire } from 'node:module'
import { cidrParser, formatIp, type Cidr, type Family, type Ip } from './ip-core.ts'

export type { Cidr, Family, Ip } from './ip-core.ts'
export { bits, maskOf, makeCidr, formatIp, lastAddr, containsIp, containsCidr, overlaps, sameCidr, nthIp } from './ip-core.ts'

type IpNum = typeof import('ip-num')
let ipnum: IpNum | undefined
/**
 * ip-num, loaded on the first IPv6 address: an IPv4-only node never pays its ~8 ms start-up (the
 * route syncer's first sync feels it). In a bundle `require` is esbuild's, which resolves the
 * literal into the bundle; the ESM sources (tests under tsx) have no `require` and use createRequire.
 */
function ipNum(): IpNum {
  return (ipnum ??= typeof require === 'function' ? require('ip-num') : createRequire(import.meta.url)('ip-num'))
}

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const V6 = /^[0-9a-fA-F:.]+$/

/** Parse a plain IPv4 or IPv6 address, or throw `invalid IP address: <s>`. */
export function parseIp(s: string, want?: Family): Ip {
  const bad = () => new Error(`invalid IP address: ${s}`)
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) throw bad()
  let ip: Ip
  if (V4.test(s)) {
    // V4 already checked every octet (0-255, no leading zeros): the value is plain arithmetic.
    const o = s.split('.')
    ip = { family: 4, value: BigInt(+o[0] * 16777216 + +o[1] * 65536 + +o[2] * 256 + +o[3]), text: s }
  } else if (s.includes(':') && V6.test(s)) {
    let v: bigint
    try {
      v = ipNum().IPv6.fromString(s).getValue()
    } catch {
      throw bad()
    }
    ip = { family: 6, value: v, text: formatIp(6, v) }
  } else throw bad()
  if (want && ip.family !== want) throw new Error(`not an IPv${want} address: ${s}`)
  return ip
}

/** Parse "a.b.c.d/n" or "v6/n", masking host bits; throw `invalid CIDR address: <s>`. */
export const parseCidr: (s: string, want?: Family) => Cidr = cidrParser((s) => parseIp(s))
