// The delegate's ADD result re-printed as flannel prints it: decoded into the Go result type of
// its own version (not converted), then MarshalIndent with 4 spaces and no newline. Unknown fields
// are dropped; addresses come out in Go's canonical text.
//   1.0.0/1.1.0: the result goes through a map, so keys are sorted at every level and an empty dns is dropped;
//   0.3.x/0.4.0: struct order (cniVersion, interfaces, ips, routes, dns), "dns": {} always printed;
//   0.1.0/0.2.0: cniVersion, ip4 {ip, gateway, routes}, ip6, dns.
import { parseIp } from '../net/ip-core.ts'
import { goJson, isObject, jsonKind, ordered } from '../formats/cni-json.ts'
import { parseRoutes } from './delegate-config.ts'
import { SUPPORTED } from './env.ts'

type Obj = Record<string, unknown>

export function resultVersion(result: Obj, confVersion: string): string {
  const v = typeof result.cniVersion === 'string' && result.cniVersion !== '' ? result.cniVersion : confVersion || '0.1.0'
  if (!SUPPORTED.includes(v)) throw new Error(`unsupported CNI result version ${JSON.stringify(v)}`)
  return v
}

/** Parse the delegate's stdout and print it in its version's format. */
export function formatResult(stdout: string, confVersion: string): string {
  let r: unknown
  try {
    r = JSON.parse(stdout)
  } catch (e) {
    throw new Error(`failed to unmarshal raw result: ${(e as Error).message}`)
  }
  if (!isObject(r)) throw new Error(`failed to unmarshal raw result: json: cannot unmarshal ${jsonKind(r)} into Go value of type map[string]interface {}`)
  const v = resultVersion(r, confVersion)
  const cniVersion = typeof r.cniVersion === 'string' && r.cniVersion !== '' ? r.cniVersion : undefined
  if (v === '1.0.0' || v === '1.1.0') return goJson(result100(r, cniVersion), '    ')
  if (v.startsWith('0.3.') || v === '0.4.0') return goJson(result040(r, cniVersion), '    ')
  return goJson(result020(r, cniVersion), '    ')
}

function list(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go struct field Result.${what}`)
  return v
}

function s(o: Obj, k: string): string | undefined {
  const v = o[k]
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go struct field .${k} of type string`)
  return v
}

function addr(v: unknown): string {
  if (typeof v !== 'string') return '<nil>'
  const m = /^([^/]+)\/(\d{1,3})$/.exec(v)
  try {
    if (!m) throw 0
    return `${parseIp(m[1]).text}/${Number(m[2])}`
  } catch {
    throw new Error(`invalid CIDR address: ${v}`)
  }
}

function gw(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined
  try {
    return parseIp(String(v)).text
  } catch {
    throw new Error(`invalid IP address: ${v}`)
  }
}

function iface(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined
}

function dns(v: unknown): Obj {
  const d = isObject(v) ? v : {}
  const arr = (x: unknown) => (Array.isArray(x) && x.length ? x.map(String) : undefined)
  return ordered({ nameservers: arr(d.nameservers), domain: s(d, 'domain'), search: arr(d.search), options: arr(d.options) })
}

function dnsEmpty(d: Obj): boolean {
  return Object.values(d).every((x) => x === undefined)
}

function nonEmpty<T>(a: T[]): T[] | undefined {
  return a.length ? a : undefined
}

function result100(r: Obj, cniVersion?: string): Obj {
  const d = dns(r.dns)
  // Go builds these from structs, then round-trips through a map: every key ends up sorted.
  const plain = (o: object) => JSON.parse(JSON.stringify(o)) as Obj
  return plain({
    cniVersion,
    interfaces: nonEmpty(
      list(r.interfaces, 'interfaces').map((i) => {
        const o = isObject(i) ? i : {}
        return {
          name: typeof o.name === 'string' ? o.name : '',
          mac: s(o, 'mac'),
          mtu: iface(o.mtu) || undefined,
          sandbox: s(o, 'sandbox'),
          socketPath: s(o, 'socketPath'),
          pciID: s(o, 'pciID'),
        }
      }),
    ),
    ips: nonEmpty(
      list(r.ips, 'ips').map((i) => {
        const o = isObject(i) ? i : {}
        return { interface: iface(o.interface), address: addr(o.address), gateway: gw(o.gateway) }
      }),
    ),
    routes: nonEmpty(parseRoutes(r.routes ?? null)),
    dns: dnsEmpty(d) ? undefined : d,
  })
}

function result040(r: Obj, cniVersion?: string): Obj {
  return ordered({
    cniVersion,
    interfaces: nonEmpty(
      list(r.interfaces, 'interfaces').map((i) => {
        const o = isObject(i) ? i : {}
        return ordered({ name: typeof o.name === 'string' ? o.name : '', mac: s(o, 'mac'), sandbox: s(o, 'sandbox') })
      }),
    ),
    ips: nonEmpty(
      list(r.ips, 'ips').map((i) => {
        const o = isObject(i) ? i : {}
        return ordered({ version: typeof o.version === 'string' ? o.version : '', interface: iface(o.interface), address: addr(o.address), gateway: gw(o.gateway) })
      }),
    ),
    routes: nonEmpty(parseRoutes(r.routes ?? null)),
    dns: dns(r.dns),
  })
}

function ipConfig020(v: unknown): Obj | undefined {
  if (!isObject(v)) return undefined
  return ordered({ ip: addr(v.ip), gateway: gw(v.gateway), routes: nonEmpty(parseRoutes(v.routes ?? null)) })
}

function result020(r: Obj, cniVersion?: string): Obj {
  return ordered({ cniVersion, ip4: ipConfig020(r.ip4), ip6: ipConfig020(r.ip6), dns: dns(r.dns) })
}

/**
 * bridge installs a route without `gw` via its family's gateway but reports it without one, and
 * its CHECK then looks for a gateway-less route and fails ("Expected Route ... GW:<nil> not found")
 * on every flannel config (the networks' routes never have a gw). So before forwarding CHECK to
 * bridge, such routes get the gateway bridge really used: the first IP gateway of the same family.
 */
export function withRouteGateways(prev: Obj): Obj {
  const ips = Array.isArray(prev.ips) ? prev.ips.filter(isObject) : []
  const gwOf = (v6: boolean) => ips.find((ip) => typeof ip.address === 'string' && ip.address.includes(':') === v6 && typeof ip.gateway === 'string')?.gateway
  if (!Array.isArray(prev.routes)) return prev
  const routes = prev.routes.map((r) => {
    if (!isObject(r) || typeof r.dst !== 'string' || (r.gw !== undefined && r.gw !== null && r.gw !== '')) return r
    const gw = gwOf(r.dst.includes(':'))
    return gw ? { ...r, gw } : r
  })
  return { ...prev, routes }
}
