// The vxlan device `flannel.<VNI>` as flannel's vxlan backend makes it (reference/flanneld.md
// §3.2): plan as data, applied through sh.ts. Before the lease: ensure the link (an existing,
// compatible one is reused untouched, MAC and MTU kept; anything else is deleted and recreated)
// and read its MAC, which goes into the lease's BackendData. After the lease: the address
// `<lease network IP>/32` (other addresses of the network on it removed) and link up.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { run, runJson } from '../core/sh.ts'
import { applyPlan, type Step } from '../core/plan.ts'
import { containsIp, parseIp, type Cidr } from '../net/cidr.ts'
import type { VxlanBackend } from '../formats/backend.ts'

export interface VxlanSpec {
  name: string
  vni: number
  /** UDP port; flannel's Port 0 means the kernel default, 8472 */
  port: number
  /** the external interface and its address (`dev`, `local`) */
  dev: string
  local: string
  mtu: number
  learning: boolean
  gbp: boolean
}

/** What `ip -d -j link show dev X` says about a link, as far as compatibility goes. */
export interface LinkState {
  mac: string
  mtu: number
  kind?: string
  id?: number
  local?: string
  link?: string
  port?: number
  gbp: boolean
  l2miss: boolean
  group?: string
}

/**
 * The device for the config's vxlan Backend (flannel's defaults already applied by
 * formats/backend.ts). Family 6 is the dual-stack twin `flannel-v6.<VNI>`, sending from an IPv6
 * `local`; its MTU is 70 below the underlay's (the kernel's own limit for vxlan over IPv6, which
 * it enforces anyway).
 */
export function vxlanSpec(b: VxlanBackend, dev: string, local: string, ifMtu: number, family: 4 | 6 = 4): VxlanSpec {
  const vni = b.vni
  const port = b.port || 8472
  const overhead = family === 4 ? 50 : 70
  const mtu = (b.mtu || ifMtu) - overhead
  const min = family === 4 ? 68 : 1280
  if (mtu < min) throw new Error(`vxlan: MTU ${mtu + overhead} leaves ${mtu} after the ${overhead}-byte encapsulation, below ${min}`)
  const name = family === 4 ? `flannel.${vni}` : `flannel-v6.${vni}`
  return { name, vni, port, dev, local: parseIp(local, family).text, mtu, learning: b.learning, gbp: b.gbp }
}

/** flannel's MAC: random, locally administered, unicast. */
export function randomMac(bytes: Buffer = randomBytes(6)): string {
  const b = [...bytes.subarray(0, 6)]
  b[0] = (b[0] & 0xfe) | 0x02
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}

export function parseLinkState(json: unknown): LinkState | undefined {
  const l = Array.isArray(json) ? (json[0] as Record<string, any> | undefined) : undefined
  if (!l) return undefined
  const d = (l.linkinfo?.info_data ?? {}) as Record<string, any>
  return {
    mac: String(l.address ?? ''),
    mtu: Number(l.mtu),
    kind: l.linkinfo?.info_kind,
    id: d.id,
    local: d.local ?? d.local6,
    link: d.link,
    port: d.port,
    gbp: d.gbp === true,
    l2miss: d.l2miss === true,
    group: d.group,
  }
}

/** flannel's reuse test (vxlanLinksIncompat): type, VNI, vtep dev, local, group, l2miss, port, gbp. */
export function incompatibility(s: VxlanSpec, cur: LinkState): string | undefined {
  if (cur.kind !== 'vxlan') return `it is a ${cur.kind ?? 'plain'} link, not vxlan`
  if (cur.id !== s.vni) return `VNI ${cur.id} instead of ${s.vni}`
  if (cur.link !== s.dev) return `vtep device ${cur.link ?? '(none)'} instead of ${s.dev}`
  if (cur.local !== s.local) return `local address ${cur.local ?? '(none)'} instead of ${s.local}`
  if (cur.group) return `multicast group ${cur.group}`
  if (cur.l2miss) return 'l2miss is on'
  if (cur.port !== s.port) return `port ${cur.port} instead of ${s.port}`
  if (cur.gbp !== s.gbp) return `gbp ${cur.gbp ? 'on' : 'off'}`
  return undefined
}

/** Steps making the device (none when the current one is compatible). */
export function planDevice(s: VxlanSpec, cur: LinkState | undefined, mac: string): Step[] {
  if (cur && !incompatibility(s, cur)) return []
  const steps: Step[] = cur ? [{ argv: ['ip', 'link', 'del', s.name] }] : []
  const add = ['ip', 'link', 'add', s.name, 'address', mac, 'mtu', String(s.mtu), 'type', 'vxlan', 'id', String(s.vni), 'local', s.local, 'dev', s.dev, 'dstport', String(s.port)]
  add.push(s.learning ? 'learning' : 'nolearning')
  if (s.gbp) add.push('gbp')
  steps.push({ argv: add })
  return steps
}

/** After the lease: `<lease network IP>/32` (IPv6: /128) only (other addresses inside the network removed), up. */
export function planAddress(name: string, lease: Cidr, network: Cidr, addrs: readonly { local: string; prefixlen: number }[]): Step {
  const want = `${lease.ipText}/${lease.family === 4 ? 32 : 128}`
  const lines: string[] = []
  let have = false
  for (const a of addrs) {
    let ip
    try {
      ip = parseIp(a.local)
    } catch {
      continue
    }
    if (ip.family !== lease.family || !containsIp(network, ip)) continue
    if (`${ip.text}/${a.prefixlen}` === want) have = true
    else lines.push(`addr del ${ip.text}/${a.prefixlen} dev ${name}`)
  }
  // nodad: an IPv6 address would otherwise stay "tentative" for a second, and no one else holds it.
  if (!have) lines.push(`addr add ${want} dev ${name}${lease.family === 6 ? ' nodad' : ''}`)
  lines.push(`link set ${name} up`)
  return { argv: ['ip', '-batch', '-'], input: lines.join('\n') + '\n' }
}

export async function readLink(name: string): Promise<LinkState | undefined> {
  const r = await run(['ip', '-d', '-j', 'link', 'show', 'dev', name], { nothrow: true })
  return r.code === 0 ? parseLinkState(JSON.parse(r.stdout)) : undefined
}

/** The address of dev to use as `local`: the public IP when dev holds it, else its first (IPv6: global) one. */
export async function localAddress(dev: string, publicIp: string, family: 4 | 6 = 4): Promise<string> {
  const links = await runJson<{ addr_info?: { family: string; local: string; scope?: string }[] }[]>(['ip', '-j', `-${family}`, 'addr', 'show', 'dev', dev])
  const mine = (links[0]?.addr_info ?? []).filter((a) => a.family === (family === 4 ? 'inet' : 'inet6') && (family === 4 || a.scope === 'global')).map((a) => a.local)
  if (mine.includes(publicIp)) return publicIp
  if (!mine.length) throw new Error(`vxlan: interface ${dev} has no ${family === 4 ? 'IPv4' : 'global IPv6'} address to send from`)
  return mine[0]
}

export async function readAddrs(name: string, family: 4 | 6 = 4): Promise<{ local: string; prefixlen: number }[]> {
  const links = await runJson<{ addr_info?: { family: string; local: string; prefixlen: number }[] }[]>(['ip', '-j', `-${family}`, 'addr', 'show', 'dev', name])
  return (links[0]?.addr_info ?? []).filter((a) => a.family === (family === 4 ? 'inet' : 'inet6'))
}

/**
 * Before the lease: the device exists as specified; returns its MAC (the planned one with dryRun).
 * A new device gets `wantMac` when given (re-creating a deleted one: the lease already has it).
 */
export async function ensureDevice(s: VxlanSpec, dryRun: boolean, say: (m: string) => void, wantMac?: string): Promise<string> {
  const cur = await readLink(s.name)
  const why = cur ? incompatibility(s, cur) : undefined
  const mac = cur && !why ? cur.mac : (wantMac ?? randomMac())
  if (cur && why) say(`${s.name} exists but ${why}: deleting and recreating it`)
  else if (cur) say(`${s.name} exists and is compatible: reusing it (MAC ${cur.mac})`)
  await applyPlan(planDevice(s, cur, mac), dryRun)
  await noRouterAdvertisements(s.name, dryRun)
  if (dryRun) return mac
  const now = await readLink(s.name)
  // flannel checks this too (#1795): a MAC the kernel changed would make every peer's FDB wrong.
  if (now?.mac !== mac) throw new Error(`${s.name}'s mac address wanted: ${mac}, but got: ${now?.mac ?? '(no device)'}`)
  return mac
}

/**
 * flannel's `net/ipv6/conf/<dev>/accept_ra=0`: the overlay device must not configure itself from
 * router advertisements. A kernel without IPv6 has no such knob: that is fine, so no error.
 * Written to /proc directly (what `sysctl -w` does): procps is not among a node's requirements.
 */
async function noRouterAdvertisements(name: string, dryRun: boolean): Promise<void> {
  if (dryRun) return applyPlan([{ argv: ['sysctl', '-qw', `net/ipv6/conf/${name}/accept_ra=0`] }], true)
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/accept_ra`, '0')
  } catch {}
}

/** After the lease: the /32 (IPv6: /128) address and link up. */
export async function configureDevice(name: string, lease: Cidr, network: Cidr, dryRun: boolean): Promise<void> {
  const addrs = await readAddrs(name, lease.family).catch(() => [])
  await applyPlan([planAddress(name, lease, network, addrs)], dryRun)
}
