// The delegate config flannel writes to dataDir/<containerID> and sends to bridge, byte for byte
// (reference/cni.md section 1.4 steps 3-6): the runtime's `delegate` with defaults filled in only
// where the key is absent, `runtimeConfig` copied, the top-level `ipam` merged with the subnet's
// ranges and the networks' routes. Keys are sorted at every level (Go map), except route objects
// (Go struct: dst, gw, mtu, advmss, priority, table, scope).
import { parseIp } from '../net/ip-core.ts'
import { goJson, isObject, jsonKind, ordered } from '../formats/cni-json.ts'
import type { NetConf } from './netconf.ts'
import type { SubnetEnv } from '../formats/subnet-env.ts'

/** The delegate config as compact JSON text (the scratch file's exact bytes). */
export function buildDelegateConfig(n: NetConf, env: SubnetEnv): string {
  const d: Record<string, unknown> = { ...(n.delegate ?? {}) }
  if ('type' in d && typeof d.type !== 'string') throw new Error("'delegate' dictionary, if present, must have (string) 'type' field")
  if ('name' in d) throw new Error("'delegate' dictionary must not have 'name' field, it'll be set by flannel")
  if ('ipam' in d) throw new Error("'delegate' dictionary must not have 'ipam' field, it'll be set by flannel")
  if (n.runtimeConfig !== undefined) d.runtimeConfig = n.runtimeConfig
  d.name = n.name
  if (!('type' in d)) d.type = 'bridge'
  // flanneld masquerades itself when FLANNEL_IPMASQ=true, so bridge must not do it twice.
  if (!('ipMasq' in d)) d.ipMasq = !env.ipmasq
  if (!('mtu' in d)) d.mtu = env.mtu
  if (d.type === 'bridge' && !('isGateway' in d)) d.isGateway = true
  if (n.cniVersion !== '') d.cniVersion = n.cniVersion
  try {
    d.ipam = delegateIpam(n, env)
  } catch (e) {
    throw new Error(`failed to assemble Delegate IPAM: ${(e as Error).message}`)
  }
  return goJson(d)
}

function delegateIpam(n: NetConf, env: SubnetEnv): Record<string, unknown> {
  const ipam: Record<string, unknown> = { ...(n.ipam ?? {}) }
  if (!('type' in ipam)) ipam.type = 'host-local'
  const ranges: unknown[] = []
  if (env.subnet) ranges.push([{ subnet: env.subnet.text }])
  if (env.ipv6Subnet) ranges.push([{ subnet: env.ipv6Subnet.text }])
  ipam.ranges = ranges
  let routes: object[]
  try {
    routes = 'routes' in ipam ? parseRoutes(ipam.routes) : []
  } catch (e) {
    throw new Error(`failed to read IPAM routes: failed to parse ipam.routes: ${(e as Error).message}`)
  }
  for (const c of [...env.networks, ...env.ipv6Networks]) routes.push(routeOut({ dst: c.text }))
  ipam.routes = routes
  return ipam
}

interface Route {
  dst: string
  gw?: string
  mtu?: number
  advmss?: number
  priority?: number
  table?: number
  scope?: number
}

function routeOut(r: Route): object {
  return ordered({ dst: r.dst, gw: r.gw, mtu: r.mtu || undefined, advmss: r.advmss || undefined, priority: r.priority || undefined, table: r.table, scope: r.scope })
}

/** ipam.routes read as CNI types.Route values and written back (unknown keys dropped). */
export function parseRoutes(v: unknown): object[] {
  if (v === null) return []
  if (!Array.isArray(v)) throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []types.Route`)
  return v.map((r) => routeOut(parseRoute(r)))
}

function parseRoute(r: unknown): Route {
  // A null element is Go's zero Route, whose dst prints as "<nil>".
  if (r === null) return { dst: '<nil>' }
  if (!isObject(r)) throw new Error(`json: cannot unmarshal ${jsonKind(r)} into Go value of type types.route`)
  const out: Route = { dst: '<nil>' }
  if (r.dst !== undefined && r.dst !== null) {
    if (typeof r.dst !== 'string') throw new Error(`json: cannot unmarshal ${jsonKind(r.dst)} into Go value of type string`)
    out.dst = routeDst(r.dst)
  }
  if (r.gw !== undefined && r.gw !== null && r.gw !== '') {
    if (typeof r.gw !== 'string') throw new Error(`json: cannot unmarshal ${jsonKind(r.gw)} into Go struct field route.gw of type net.IP`)
    try {
      out.gw = parseIp(r.gw).text
    } catch {
      throw new Error(`invalid IP address: ${r.gw}`)
    }
  }
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const x = r[k]
    if (x === undefined || x === null) continue
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) {
      throw new Error(
        `json: cannot unmarshal ${typeof x === 'number' ? `number ${x}` : jsonKind(x)} into Go struct field route.${k} of type ${k === 'table' || k === 'scope' ? '*int' : 'int'}`,
      )
    }
    out[k] = x
  }
  return out
}

// types.IPNet keeps the address as written (not masked) in Go's canonical text.
function routeDst(s: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s)
  const bad = new Error(`invalid CIDR address: ${s}`)
  if (!m) throw bad
  let ip
  try {
    ip = parseIp(m[1])
  } catch {
    throw bad
  }
  const prefix = Number(m[2])
  if (prefix > (ip.family === 4 ? 32 : 128) || (m[2].length > 1 && m[2][0] === '0')) throw bad
  return `${ip.text}/${prefix}`
}
