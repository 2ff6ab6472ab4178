// The kernel against desired, with the parts' own planning code: the route syncer's desired
// routes and plan (host-gw), its vxlan peers and plan (neigh, fdb, onlink routes), the vxlan
// device against the lease's VtepMAC, the masquerade installer's rule sets and diff. A plan with
// nothing to do is a healthy node; anything in it is what the doctor reports.
import { readIfaceAndRoutes } from '../routes/kernel.ts'
import { DesiredRoutes, planSync, type NodeView } from '../routes/hostgw/sync.ts'
import { VxlanPeers, planVxlanSync, vxlanDev } from '../routes/vxlan/sync.ts'
import { splitDirect } from '../routes/vxlan/direct.ts'
import type { VxlanBackend } from '../formats/backend.ts'
import { readLink } from '../subnet/vxlan-device.ts'
import { chooseFlavour, toolsFor, which } from '../masq/iptables-flavour.ts'
import { differences, readState } from '../masq/ipt.ts'
import { ruleSets } from '../masq/rules.ts'
import { existingTables, fullyRandomWorks, listTable, listingDiff } from '../masq/nftctl.ts'
import { tableBody, tableName } from '../masq/nft.ts'
import type { Cidr, Family } from '../net/cidr.ts'
import { errText } from '../core/log.ts'
import { ok, fail, skip, type Verdict } from './report.ts'
import type { Desired } from './desired.ts'

const lines = (batch: string) => batch.split('\n').filter(Boolean)
const few = (ls: string[], n = 6) => ls.slice(0, n).join('; ') + (ls.length > n ? `; and ${ls.length - n} more` : '')

function nodeView(d: Desired, prefix: string, iface: string, localIps: string[]): NodeView | undefined {
  const cfg = d.cfg!
  const env = d.env!
  const networks: Cidr[] = []
  const own: Cidr[] = []
  if (cfg.enableIPv4 && cfg.network && env.subnet) networks.push(cfg.network), own.push(env.subnet)
  if (cfg.enableIPv6 && cfg.ipv6Network && env.ipv6Subnet) networks.push(cfg.ipv6Network), own.push(env.ipv6Subnet)
  return networks.length ? { prefix, iface, cfg, networks, own, localIps } : undefined
}

/** Peer routes (host-gw) or vxlan peers, and the vxlan device. */
export async function checkRoutes(d: Desired, prefix: string, iface: string, fixCmd: string): Promise<Verdict[]> {
  if (!d.cfg || !d.leases || !d.env) return [skip('routes', 'needs the registry and subnet.env')]
  const start = await readIfaceAndRoutes(iface)
  if (!start.addrs) return [fail('routes', `--iface ${iface}: no such interface`)]
  const node = nodeView(d, prefix, iface, start.addrs)
  if (!node) return [skip('routes', 'no network this node routes')]
  if (d.cfg.backend.type === 'vxlan') return await checkVxlan(d, { ...node, ifaceNets: start.nets }, fixCmd)
  const want = new DesiredRoutes(node).compute(d.leases).routes
  const plan = await planSync(node, want)
  if (!plan.batch) return [ok('routes', `${want.length} peer route(s) via ${iface}, all in place, no stale one`)]
  const add = lines(plan.batch).filter((l) => l.startsWith('route replace'))
  const del = lines(plan.batch).filter((l) => l.startsWith('route del'))
  const parts = [...(plan.added ? [`${plan.added} missing`] : []), ...(plan.replaced ? [`${plan.replaced} wrong`] : []), ...(plan.removed ? [`${plan.removed} stale`] : [])]
  return [fail('routes', `${parts.join(', ')} of ${want.length}: ${few([...add.map((l) => `want: ${l}`), ...del.map((l) => `extra: ${l}`)])}`, fixCmd)]
}

async function checkVxlan(d: Desired, node: NodeView, fixCmd: string): Promise<Verdict[]> {
  const out: Verdict[] = []
  const backend = d.cfg!.backend as VxlanBackend
  const { dev, dev6, vni } = vxlanDev(backend)
  const link = await readLink(dev)
  const vtep = d.own?.backendData && typeof d.own.backendData.VtepMAC === 'string' ? d.own.backendData.VtepMAC : undefined
  if (!link) out.push(fail('vxlan device', `${dev} does not exist`, 'systemctl restart flanneld (weft-subnet creates it)'))
  else if (link.kind !== 'vxlan' || link.id !== vni)
    out.push(fail('vxlan device', `${dev} is ${link.kind ?? 'not vxlan'} VNI ${link.id}, not vxlan VNI ${vni}`, `ip link del ${dev} && systemctl restart flanneld`))
  else if (vtep && vtep !== link.mac)
    out.push(
      fail(
        'vxlan device',
        `${dev} has MAC ${link.mac} but we publish VtepMAC ${vtep} (${d.kube ? `Node ${d.kube.name}'s backend-data annotation` : 'our lease'}): peers send to a MAC nobody has`,
        "systemctl restart flanneld (the writer publishes the device's MAC)",
      ),
    )
  else if (d.env?.mtu !== undefined && link.mtu !== d.env.mtu)
    out.push(fail('vxlan device', `${dev} MTU ${link.mtu} but FLANNEL_MTU is ${d.env.mtu}`, `ip link set dev ${dev} mtu ${d.env.mtu}`))
  else out.push(ok('vxlan device', `${dev}: VNI ${vni}, MAC ${link.mac}${vtep ? ' (as published)' : ''}, MTU ${link.mtu}`))
  if (!link) return out
  // DirectRouting: peers on the external interface's networks get plain routes, as weft-routes splits them.
  const all = new VxlanPeers(node, vni).compute(d.leases!)
  const direct = backend.directRouting
  const { direct: directRoutes, overlay: peers } = direct ? splitDirect(all, node.ifaceNets ?? []) : { direct: [], overlay: all }
  const fams = [...new Set(node.networks.map((n) => n.family))] as Family[]
  const bad: string[] = []
  let n = 0
  for (const fam of fams) {
    const fdev = fam === 4 ? dev : dev6
    const plan = await planVxlanSync(node, fdev, peers, fam)
    n += peers.filter((p) => p.subnet.family === fam).length
    bad.push(...lines(plan.bridgeBatch), ...lines(plan.ipBatch))
  }
  if (direct) {
    const plan = await planSync({ ...node, ifaceRoutesOnly: true, blackhole: false }, directRoutes)
    bad.push(...lines(plan.batch))
  }
  const directText = direct ? ` + ${directRoutes.length} direct route(s) (DirectRouting)` : ''
  if (!bad.length) out.push(ok('vxlan peers', `${n} peer(s)${directText}: neigh, fdb and route entries all in place, none stale`))
  else
    out.push(
      fail(
        'vxlan peers',
        `${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} to fix for ${n} peer(s): ${few(bad.map((l) => (/ del /.test(` ${l}`) ? `extra: ${l}` : `want: ${l}`)))}`,
        fixCmd,
      ),
    )
  return out
}

/** FLANNEL-POSTRTG / FLANNEL-FWD (iptables) or the flannel-ipv4/6 tables (nftables). */
export async function checkMasq(d: Desired, o: { ipMasq: boolean; forward: boolean; fullyRandomDisabled: boolean }): Promise<Verdict> {
  if (!d.env?.subnet || !d.env.networks[0]) return skip('masquerade', 'needs subnet.env')
  if (!o.ipMasq && !o.forward) return skip('masquerade', 'neither --ip-masq nor --iptables-forward-rules')
  const fams = [
    { family: 4 as Family, cluster: d.env.networks[0], pod: d.env.subnet },
    ...(d.env.ipv6Networks[0] && d.env.ipv6Subnet ? [{ family: 6 as Family, cluster: d.env.ipv6Networks[0], pod: d.env.ipv6Subnet }] : []),
  ]
  const fix = 'systemctl restart flanneld (weft-masq re-applies the whole set within --iptables-resync)'
  try {
    if (d.cfg?.enableNFTables) {
      if (!which('nft')) return fail('masquerade', 'EnableNFTables but nft is not installed', 'apt-get install nftables')
      // The installer's own plan (tableBody, with its fully-random probe) against the kernel's
      // listing, compared as the installer compares them (listingDiff): contents and order.
      const randomFully = !o.fullyRandomDisabled && (await fullyRandomWorks())
      const diffs: string[] = []
      for (const f of fams) diffs.push(...listingDiff(f.family, tableBody(f, { ipMasq: o.ipMasq, forward: o.forward, randomFully }), await listTable(f.family)))
      for (const f of await existingTables())
        if (!fams.some((x) => x.family === f)) diffs.push(`unexpected table ${f === 4 ? 'ip flannel-ipv4' : 'ip6 flannel-ipv6'} (no such network here)`)
      if (diffs.length) return fail('masquerade', few(diffs), fix)
      const chains = [o.ipMasq ? 'postrtg' : '', o.forward ? 'forward' : ''].filter(Boolean).join(' and ')
      return ok('masquerade', `nftables ${fams.map((f) => tableName(f.family)).join(', ')}: ${chains} complete and in order (fully-random ${randomFully ? 'on' : 'off'})`)
    }
    const { flavour } = await chooseFlavour('auto')
    const diffs: string[] = []
    for (const f of fams) {
      const t = await toolsFor(flavour, f.family)
      if (!t) return fail('masquerade', `no iptables for IPv${f.family}`, 'apt-get install iptables')
      const sets = ruleSets({ cluster: f.cluster, pod: f.pod, ipMasq: o.ipMasq, forward: o.forward, randomFully: !o.fullyRandomDisabled && t.modern })
      diffs.push(...differences(t, sets, await readState(t)))
    }
    if (diffs.length) return fail('masquerade', few(diffs), fix)
    return ok('masquerade', `${[o.ipMasq ? 'FLANNEL-POSTRTG' : '', o.forward ? 'FLANNEL-FWD' : ''].filter(Boolean).join(' and ')} complete and in order (iptables ${flavour})`)
  } catch (e) {
    return fail('masquerade', `cannot read the rules: ${errText(e)}`)
  }
}
