// The network config's Backend, parsed once into a typed value (flannel reads each backend's
// fields in its own New*Backend with Go's case-insensitive keys). Below this edge no module reads
// the raw JSON: the subnet writer, the route syncer and the MTU all take these types.
import { goField } from './go-json.ts'

export interface HostGwBackend {
  type: 'host-gw'
}

export interface VxlanBackend {
  type: 'vxlan'
  /** Backend.VNI, default 1 */
  vni: number
  /** Backend.Port as given; 0 means the kernel's default, 8472 */
  port: number
  /** Backend.MTU, 0 when unset (the underlay's MTU is used) */
  mtu: number
  learning: boolean
  gbp: boolean
  directRouting: boolean
  /** Backend.MacPrefix: flannel uses it on Windows only (default "0E-2A"); kept, ignored on Linux */
  macPrefix: string
}

/** Backends weft does not run (flanneld refuses them); their MTU rules still apply. */
export interface OtherBackend {
  type: 'udp' | 'wireguard' | 'ipip' | 'ipsec' | 'alloc' | 'extension' | 'aws-vpc' | 'gce' | 'ali-vpc' | 'tencent-vpc'
  /** Backend.MTU (wireguard), 0 when unset */
  mtu: number
  /** Backend.UDPEncap (ipsec) */
  udpEncap: boolean
  /** no Backend in the config at all (flannel then takes udp) */
  implicit?: true
}

export type Backend = HostGwBackend | VxlanBackend | OtherBackend

const OTHER = new Set<string>(['udp', 'wireguard', 'ipip', 'ipsec', 'alloc', 'extension', 'aws-vpc', 'gce', 'ali-vpc', 'tencent-vpc'])
const bad = (msg: string) => new Error(`invalid network config: ${msg}`)

/** Backend (the object under "Backend"); flannel's parseBackendType: no Backend at all means udp. */
export function parseBackend(v: unknown): Backend {
  if (v === undefined || v === null) return { type: 'udp', mtu: 0, udpEncap: false, implicit: true }
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`Backend must be an object, got ${JSON.stringify(v)}`)
  const raw = v as Record<string, unknown>
  const t = goField(raw, 'Type')
  if (t !== undefined && typeof t !== 'string') throw bad(`Backend.Type must be a string, got ${JSON.stringify(t)}`)
  if (!t) throw bad('Backend.Type is missing (for example "host-gw" or "vxlan")')
  const type = t.toLowerCase()
  const int = (name: string, dflt: number, min: number, max: number, zeroOk = false): number => {
    const x = goField(raw, name) ?? dflt
    if (typeof x !== 'number' || !Number.isInteger(x) || ((x < min || x > max) && !(zeroOk && x === 0)))
      throw bad(`Backend.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(x)}`)
    return x
  }
  const bool = (name: string): boolean => {
    const x = goField(raw, name) ?? false
    if (typeof x !== 'boolean') throw bad(`Backend.${name} must be true or false, got ${JSON.stringify(x)}`)
    return x
  }
  if (type === 'host-gw') return { type }
  if (type === 'vxlan') {
    const macPrefix = goField(raw, 'MacPrefix') ?? ''
    if (typeof macPrefix !== 'string') throw bad(`Backend.MacPrefix must be a string, got ${JSON.stringify(macPrefix)}`)
    return {
      type,
      vni: int('VNI', 1, 0, 16777215),
      port: int('Port', 0, 0, 65535),
      mtu: int('MTU', 0, 68, 65535, true),
      learning: bool('Learning'),
      gbp: bool('GBP'),
      directRouting: bool('DirectRouting'),
      macPrefix,
    }
  }
  if (OTHER.has(type)) return { type: type as OtherBackend['type'], mtu: type === 'wireguard' ? int('MTU', 0, 68, 65535, true) : 0, udpEncap: type === 'ipsec' && bool('UDPEncap') }
  throw bad(`unknown backend type ${JSON.stringify(t)}`)
}
