// The vxlan peer plan (reference/flanneld.md §3.2, "Add peer"): per peer lease, on flannel.<VNI>,
//   neigh replace <peer subnet IP> lladdr <VtepMAC> dev flannel.1 nud permanent   (ARP)
//   fdb replace <VtepMAC> dev flannel.1 dst <peer PublicIP> self permanent         (FDB)
//   route replace <peer subnet> via <peer subnet IP> dev flannel.1 onlink          (route)
// against what the kernel holds on the device, as the text of one `ip -batch -` (neigh + route)
// and one `bridge -batch -` (fdb). Pure. Entries of peers that are gone are removed (flannel
// only removes on a lease's DELETE event, so peers lost while it was down stay for ever).
import { goField } from '../../formats/go-json.ts'
import { containsIp, overlaps, parseCidr, parseIp, type Cidr, type Ip } from '../../net/cidr.ts'
import type { Lease } from '../../formats/lease.ts'

export interface VxlanPeer {
  subnet: Cidr
  publicIp: Ip
  mac: string
}

export interface VxlanKernel {
  /** permanent neighbours on the device: IP text -> MAC */
  neigh: Map<string, string>
  /** unicast fdb entries with a remote: MAC -> dst text */
  fdb: Map<string, string>
  /** routes on the device inside the network: dst text -> gateway text ('' if none) and onlink */
  routes: Map<string, { gateway: string; onlink: boolean }>
}

export interface VxlanPlan {
  ipBatch: string
  bridgeBatch: string
  added: number
  changed: number
  removed: number
  /** blackhole routes of our own subnet added (--ip-blackhole-route) */
  blackholes?: number
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/** Why a vxlan lease's BackendData cannot be used, or the peer. */
export function vxlanPeer(l: Lease, vni: number): VxlanPeer | string {
  return peerOf(l.backendData, 'BackendData', l.subnet, l.publicIp, vni)
}

/** The lease's IPv6 peer (flannel-v6.<VNI>: BackendV6Data, the IPv6 subnet and PublicIPv6), or why not. */
export function vxlanPeer6(l: Lease, vni: number): VxlanPeer | string {
  if (!l.ipv6Subnet || !l.publicIpv6) return 'no IPv6 subnet or PublicIPv6'
  return peerOf(l.backendV6Data, 'BackendV6Data', l.ipv6Subnet, l.publicIpv6, vni)
}

function peerOf(d: Record<string, unknown> | null, what: string, subnet: Cidr, publicIp: Ip, vni: number): VxlanPeer | string {
  if (!d) return `vxlan lease without ${what}`
  const get = (k: string) => goField(d, k)
  const v = get('VNI')
  if (v !== vni) return `${what} VNI ${JSON.stringify(v)} does not match ours (${vni})`
  const m = get('VtepMAC')
  if (typeof m !== 'string' || !MAC.test(m.toLowerCase())) return `${what} VtepMAC ${JSON.stringify(m)?.slice(0, 40)} is not a MAC address`
  const mac = m.toLowerCase()
  if (parseInt(mac.slice(0, 2), 16) & 1) return `${what} VtepMAC ${mac} is a multicast address`
  if (mac === '00:00:00:00:00:00') return `${what} VtepMAC ${mac} is all zeros`
  return { subnet, publicIp, mac }
}

/**
 * `ip -j neigh|route show dev D` and `bridge -j fdb show dev D`, reduced to what the plan owns.
 * The family is the network's (flannel.<VNI> is IPv4, flannel-v6.<VNI> IPv6).
 */
export function parseVxlanKernel(neigh: unknown, fdb: unknown, routes: unknown, network: Cidr, own: Cidr): VxlanKernel {
  const k: VxlanKernel = { neigh: new Map(), fdb: new Map(), routes: new Map() }
  const fam = network.family
  const ipIn = (s: unknown) => {
    try {
      const ip = parseIp(String(s), fam)
      return containsIp(network, ip) && !containsIp(own, ip) ? ip : undefined
    } catch {
      return undefined
    }
  }
  for (const n of arr(neigh)) {
    const st = Array.isArray(n.state) ? n.state : [n.state]
    const ip = ipIn(n.dst)
    // Keyed by our text of the address (IPv6: RFC 5952), whatever spelling ip printed.
    if (st.includes('PERMANENT') && typeof n.lladdr === 'string' && ip) k.neigh.set(ip.text, n.lladdr)
  }
  const norm = (s: string) => {
    try {
      return parseIp(s).text
    } catch {
      return s
    }
  }
  for (const e of arr(fdb)) {
    // Only unicast entries with a remote: the all-zeros default destination is never ours.
    if (typeof e.mac === 'string' && typeof e.dst === 'string' && MAC.test(e.mac) && e.mac !== '00:00:00:00:00:00') k.fdb.set(e.mac, norm(e.dst))
  }
  for (const r of arr(routes)) {
    let dst: Cidr
    try {
      dst = parseCidr(String(r.dst).includes('/') ? String(r.dst) : `${r.dst}/${fam === 4 ? 32 : 128}`, fam)
    } catch {
      continue
    }
    if (!containsIp(network, { family: fam, value: dst.net, text: dst.ipText }) || overlaps(dst, own) || dst.prefix < network.prefix) continue
    k.routes.set(dst.text, { gateway: typeof r.gateway === 'string' ? norm(r.gateway) : '', onlink: Array.isArray(r.flags) && r.flags.includes('onlink') })
  }
  return k
}

function arr(v: unknown): Record<string, any>[] {
  return Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []
}

/** Desired peers against the kernel: removals first, then replaces, sorted by subnet. */
export function planVxlan(peers: readonly VxlanPeer[], k: VxlanKernel, dev: string): VxlanPlan {
  const sorted = [...peers].sort((a, b) => (a.subnet.net < b.subnet.net ? -1 : a.subnet.net > b.subnet.net ? 1 : 0))
  const wantNeigh = new Map(sorted.map((p) => [p.subnet.ipText, p.mac]))
  const wantFdb = new Map(sorted.map((p) => [p.mac, p.publicIp.text]))
  const wantRoute = new Map(sorted.map((p) => [p.subnet.text, p.subnet.ipText]))
  const ip: string[] = []
  const br: string[] = []
  const plan: VxlanPlan = { ipBatch: '', bridgeBatch: '', added: 0, changed: 0, removed: 0 }
  const gone = new Set<string>()
  for (const [dst, r] of k.routes) if (!wantRoute.has(dst)) ip.push(`route del ${dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${dev}`), gone.add(dst)
  for (const [addr] of k.neigh) if (!wantNeigh.has(addr)) ip.push(`neigh del ${addr} dev ${dev}`), gone.add(addr)
  for (const [mac, dst] of k.fdb) if (!wantFdb.has(mac)) br.push(`fdb del ${mac} dev ${dev} dst ${dst} self`)
  plan.removed = new Set([...gone].map((g) => g.split('/')[0])).size
  for (const p of sorted) {
    const n = k.neigh.get(p.subnet.ipText) === p.mac
    const f = k.fdb.get(p.mac) === p.publicIp.text
    const cur = k.routes.get(p.subnet.text)
    const r = cur !== undefined && cur.gateway === p.subnet.ipText && cur.onlink
    if (n && f && r) continue
    if (k.neigh.has(p.subnet.ipText) || k.fdb.has(p.mac) || cur) plan.changed++
    else plan.added++
    if (!n) ip.push(`neigh replace ${p.subnet.ipText} lladdr ${p.mac} dev ${dev} nud permanent`)
    if (!f) br.push(`fdb replace ${p.mac} dev ${dev} dst ${p.publicIp.text} self permanent`)
    if (!r) ip.push(`route replace ${p.subnet.text} via ${p.subnet.ipText} dev ${dev} onlink`)
  }
  plan.ipBatch = ip.map((l) => l + '\n').join('')
  plan.bridgeBatch = br.map((l) => l + '\n').join('')
  return plan
}
