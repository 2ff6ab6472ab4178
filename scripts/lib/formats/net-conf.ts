// flannel's network config (<prefix>/config in etcd, net-conf.json in kube mode), read as Go's
// encoding/json reads it into subnet.Config (field names match case-insensitively, unknown fields
// are ignored), then completed and checked as subnet.CheckNetworkConfig does. The messages are
// flannel's, with the offending value added.
import { goField } from './go-json.ts'
import { parseBackend, type Backend } from './backend.ts'
import { bits, makeCidr, maskOf, parseCidr, parseIp, containsIp, formatIp, type Cidr, type Family } from '../net/cidr.ts'

export interface NetworkConfig {
  network?: Cidr
  subnetLen: number
  /** first / last subnet that may be leased (prefix subnetLen) */
  subnetMin?: Cidr
  subnetMax?: Cidr
  enableIPv4: boolean
  enableIPv6: boolean
  ipv6Network?: Cidr
  ipv6SubnetLen: number
  ipv6SubnetMin?: Cidr
  ipv6SubnetMax?: Cidr
  enableNFTables: boolean
  /** typed per backend (formats/backend.ts) */
  backend: Backend
}

const FIELDS = [
  'Network',
  'SubnetLen',
  'SubnetMin',
  'SubnetMax',
  'EnableIPv4',
  'EnableIPv6',
  'EnableNFTables',
  'IPv6Network',
  'IPv6SubnetLen',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
  'Backend',
] as const
type Field = (typeof FIELDS)[number]

function fold(obj: Record<string, unknown>): Partial<Record<Field, unknown>> {
  const out: Partial<Record<Field, unknown>> = {}
  for (const f of FIELDS) {
    const v = goField(obj, f)
    if (v !== undefined) out[f] = v
  }
  return out
}

function str(f: Field, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new Error(`invalid network config: ${f} must be a string, got ${JSON.stringify(v)}`)
  return v
}

function bool(f: Field, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'boolean') throw new Error(`invalid network config: ${f} must be true or false, got ${JSON.stringify(v)}`)
  return v
}

function uint(f: Field, v: unknown): number {
  if (v === undefined || v === null) return 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`invalid network config: ${f} must be a non-negative integer, got ${JSON.stringify(v)}`)
  return v
}

function network(f: Field, v: unknown, fam: Family): Cidr | undefined {
  const s = str(f, v)
  if (s === undefined || s === '') return undefined
  try {
    return parseCidr(s, fam)
  } catch {
    throw new Error(`invalid network config: ${f} ${JSON.stringify(s)} is not an IPv${fam} CIDR (like ${fam === 4 ? '10.244.0.0/16' : 'fc00::/48'})`)
  }
}

function address(f: Field, v: unknown, fam: Family): bigint | undefined {
  const s = str(f, v)
  if (s === undefined || s === '') return undefined
  try {
    return parseIp(s, fam).value
  } catch {
    throw new Error(`invalid network config: ${f} ${JSON.stringify(s)} is not an IPv${fam} address`)
  }
}

/** Parse and validate the config JSON text; throws a clear message naming the bad field. */
export function parseNetworkConfig(text: string): NetworkConfig {
  let j: unknown
  try {
    j = JSON.parse(text)
  } catch (e) {
    throw new Error(`invalid network config: not JSON: ${(e as Error).message}`)
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('invalid network config: not a JSON object')
  const c = fold(j as Record<string, unknown>)
  const cfg: NetworkConfig = {
    network: network('Network', c.Network, 4),
    subnetLen: uint('SubnetLen', c.SubnetLen),
    enableIPv4: bool('EnableIPv4', c.EnableIPv4, true),
    enableIPv6: bool('EnableIPv6', c.EnableIPv6, false),
    ipv6Network: network('IPv6Network', c.IPv6Network, 6),
    ipv6SubnetLen: uint('IPv6SubnetLen', c.IPv6SubnetLen),
    enableNFTables: bool('EnableNFTables', c.EnableNFTables, false),
    backend: parseBackend(c.Backend),
  }
  if (!cfg.enableIPv4 && !cfg.enableIPv6) throw new Error('invalid network config: EnableIPv4 and EnableIPv6 are both false')
  if (cfg.enableIPv4) {
    const r = checkFamily(4, cfg.network, cfg.subnetLen, address('SubnetMin', c.SubnetMin, 4), address('SubnetMax', c.SubnetMax, 4))
    cfg.subnetLen = r.len
    cfg.subnetMin = r.min
    cfg.subnetMax = r.max
  }
  if (cfg.enableIPv6) {
    const r = checkFamily(6, cfg.ipv6Network, cfg.ipv6SubnetLen, address('IPv6SubnetMin', c.IPv6SubnetMin, 6), address('IPv6SubnetMax', c.IPv6SubnetMax, 6))
    cfg.ipv6SubnetLen = r.len
    cfg.ipv6SubnetMin = r.min
    cfg.ipv6SubnetMax = r.max
  }
  return cfg
}

// subnet.CheckNetworkConfig for one family (v4: /28 minimum, /30 limit, /24 default;
// v6: /124 minimum, /126 limit, /64 default).
function checkFamily(fam: Family, net: Cidr | undefined, len: number, minAddr: bigint | undefined, maxAddr: bigint | undefined) {
  const N = fam === 4 ? 'Network' : 'IPv6Network'
  const L = fam === 4 ? 'SubnetLen' : 'IPv6SubnetLen'
  const pre = fam === 4 ? '' : 'IPv6'
  const width = bits(fam)
  if (!net) throw new Error(`invalid network config: please define a correct ${N} parameter in the flannel config`)
  if (len > 0) {
    // Each host needs room for a bridge and a pod; the first subnet is never leased.
    if (len > width - 2) throw new Error(`invalid network config: ${L} must be less than /${width - 1} (got /${len})`)
    if (len < net.prefix + 2)
      throw new Error(
        `invalid network config: ${N} must be able to accommodate at least four subnets (${L} /${len} does not fit ${net.text} four times; use /${net.prefix + 2} or longer)`,
      )
  } else {
    const minUseful = width - 4
    if (net.prefix > minUseful) throw new Error(`invalid network config: ${N} is too small. Minimum useful network prefix is /${minUseful} (got ${net.text})`)
    const dflt = fam === 4 ? 24 : 64
    len = net.prefix <= dflt - 2 ? dflt : net.prefix + 2
  }
  const size = 1n << BigInt(width - len)
  const last = net.net | ((1n << BigInt(width - net.prefix)) - 1n)
  const inNet = (v: bigint) => containsIp(net, { family: fam, value: v, text: '' })
  const aligned = (v: bigint) => (v & maskOf(fam, len)) === v
  const min = minAddr ?? net.net + size
  const max = maxAddr ?? last + 1n - size
  for (const [name, v] of [
    [`${pre}SubnetMin`, min],
    [`${pre}SubnetMax`, max],
  ] as const) {
    if (!inNet(v)) throw new Error(`invalid network config: ${name} ${formatIp(fam, v)} is not in the range of the ${N} ${net.text}`)
    if (!aligned(v)) throw new Error(`invalid network config: ${name} is not on a ${L} boundary: ${formatIp(fam, v)} (/${len})`)
  }
  if (min > max) throw new Error(`invalid network config: ${pre}SubnetMin ${formatIp(fam, min)} is above ${pre}SubnetMax ${formatIp(fam, max)}`)
  return { len, min: makeCidr(fam, min, len), max: makeCidr(fam, max, len) }
}
