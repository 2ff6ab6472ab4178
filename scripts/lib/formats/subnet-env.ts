// /run/flannel/subnet.env, the one place it is read and formatted: read exactly as flannel's CNI
// plugin reads it (parseSubnetEnv; every part that needs our subnet and the network), read
// leniently as flanneld reads its previous file at start (previousSubnet), written exactly as
// flanneld writes it (KEY=value lines in a fixed order; see reference/flanneld.md section 1).
// Writing the file to disk, atomically, is subnet-file.ts.
import { readFileSync } from 'node:fs'
import type { Cidr, Family } from '../net/cidr.ts'
// ip-core, not cidr.ts: the CNI plugin reads this on every pod start and must not load ip-num.
import { formatIp, parseCidr } from '../net/ip-core.ts'

export interface SubnetEnv {
  /** FLANNEL_NETWORK entries (masked, duplicates dropped, order kept) */
  networks: Cidr[]
  subnet?: Cidr
  ipv6Networks: Cidr[]
  ipv6Subnet?: Cidr
  mtu?: number
  ipmasq?: boolean
}

function cidrList(v: string): Cidr[] {
  const out: Cidr[] = []
  for (const item of v.split(',')) {
    const c = parseCidr(item)
    if (!out.some((o) => o.text === c.text)) out.push(c)
  }
  return out
}

/** Parse subnet.env text. Throws with the reference's messages; `path` names the file in them. */
export function parseSubnetEnv(text: string, path: string): SubnetEnv {
  const env: SubnetEnv = { networks: [], ipv6Networks: [] }
  let sawV4Net = false
  let sawV6Net = false
  for (let line of text.split('\n')) {
    if (line.endsWith('\r')) line = line.slice(0, -1)
    const eq = line.indexOf('=')
    // A known key without '=' panics flannel's Go code; we read its value as "".
    const key = eq >= 0 ? line.slice(0, eq) : line
    const val = eq >= 0 ? line.slice(eq + 1) : ''
    switch (key) {
      case 'FLANNEL_NETWORK':
        env.networks = cidrList(val)
        sawV4Net = true
        break
      case 'FLANNEL_SUBNET':
        env.subnet = parseCidr(val)
        break
      case 'FLANNEL_IPV6_NETWORK':
        env.ipv6Networks = cidrList(val)
        sawV6Net = true
        break
      case 'FLANNEL_IPV6_SUBNET':
        env.ipv6Subnet = parseCidr(val)
        break
      case 'FLANNEL_MTU': {
        if (!/^\d+$/.test(val)) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(val)}: invalid syntax`)
        const n = Number(val)
        if (n > 0xffffffff) throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(val)}: value out of range`)
        env.mtu = n
        break
      }
      case 'FLANNEL_IPMASQ':
        env.ipmasq = val === 'true'
        break
    }
  }
  const missing: string[] = []
  if (!sawV4Net && !sawV6Net) missing.push('FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK')
  if (!env.subnet && !env.ipv6Subnet) missing.push('FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET')
  if (env.mtu === undefined) missing.push('FLANNEL_MTU')
  if (env.ipmasq === undefined) missing.push('FLANNEL_IPMASQ')
  if (missing.length) throw new Error(`${path} is missing ${missing.join(', ')}`)
  return env
}

export interface SubnetEnvOut {
  network?: Cidr
  /** the lease (network address); written as its first host, e.g. 10.244.1.1/24 */
  subnet?: Cidr
  ipv6Network?: Cidr
  ipv6Subnet?: Cidr
  mtu: number
  ipmasq: boolean
}

/** A subnet as subnet.env writes it: its first host, e.g. 10.244.1.1/24. */
export function firstHost(c: Cidr): string {
  return `${formatIp(c.family, c.net + 1n)}/${c.prefix}`
}

/** flanneld's subnet.env text, keys in its fixed order, each family only when enabled. */
export function formatSubnetEnv(o: SubnetEnvOut): string {
  let s = ''
  if (o.network) s += `FLANNEL_NETWORK=${o.network.text}\n`
  if (o.subnet) s += `FLANNEL_SUBNET=${firstHost(o.subnet)}\n`
  if (o.ipv6Network) s += `FLANNEL_IPV6_NETWORK=${o.ipv6Network.text}\n`
  if (o.ipv6Subnet) s += `FLANNEL_IPV6_SUBNET=${firstHost(o.ipv6Subnet)}\n`
  s += `FLANNEL_MTU=${o.mtu}\n`
  s += `FLANNEL_IPMASQ=${o.ipmasq}\n`
  return s
}

/**
 * FLANNEL_SUBNET of an old subnet.env as a network (10.244.1.1/24 -> 10.244.1.0/24), read
 * leniently as flanneld's godotenv read does: a missing or broken file, or a comma list, is none.
 * Family 6 reads FLANNEL_IPV6_SUBNET the same way.
 */
export function previousSubnet(path: string, family: Family = 4): Cidr | undefined {
  const key = family === 4 ? 'FLANNEL_SUBNET' : 'FLANNEL_IPV6_SUBNET'
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim()
    const m = /^(?:export\s+)?(FLANNEL_(?:IPV6_)?SUBNET)\s*=\s*["']?([^"'\s]*)["']?$/.exec(line)
    if (!m || m[1] !== key || m[2].includes(',')) continue
    try {
      return parseCidr(m[2], family)
    } catch {
      return undefined
    }
  }
  return undefined
}
