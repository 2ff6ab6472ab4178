// The lab in dual stack over vxlan (EnableIPv6, "Backend":{"Type":"vxlan"}): each node gets
// flannel.1 for IPv4 and flannel-v6.1 for IPv6 (sending from its IPv6 underlay address), both MACs
// in its lease (BackendData, BackendV6Data); IPv6 peers are programmed on flannel-v6.1.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Lab, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { runJson } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), backend: 'vxlan', ipv6: true })
const DEV6 = 'flannel-v6.1'
const inNs = <T>(n: LabNode, argv: string[]) => runJson<T>(['ip', 'netns', 'exec', n.ns, ...argv])
const net6 = (n: LabNode) => lab.subnet6Of(n)!
const keyOf = (n: LabNode) => `/coreos.com/network/subnets/${lab.subnetOf(n).replace(/\.1\//, '.0-')}&${net6(n).replace('/', '-')}`
const link = async (n: LabNode, dev: string) => (await inNs<any[]>(n, ['ip', '-d', '-j', 'link', 'show', 'dev', dev]))[0]

/** n's IPv6 entries for peer m on flannel-v6.1: [neigh lladdr, fdb dst, route gateway+onlink]. */
async function entries6(n: LabNode, m: LabNode): Promise<string[]> {
  const ip = net6(m).split('/')[0]
  const neigh = await inNs<{ dst: string; lladdr: string }[]>(n, ['ip', '-6', '-j', 'neigh', 'show', 'dev', DEV6])
  const fdb = await inNs<{ mac: string; dst?: string }[]>(n, ['bridge', '-j', 'fdb', 'show', 'dev', DEV6])
  const routes = await inNs<{ dst: string; gateway?: string; flags?: string[] }[]>(n, ['ip', '-6', '-j', 'route', 'show', 'dev', DEV6])
  const mac = neigh.find((e) => e.dst === ip)?.lladdr ?? ''
  const r = routes.find((e) => e.dst === net6(m))
  return [mac, fdb.find((e) => mac && e.mac === mac)?.dst ?? '', r ? `${r.gateway} ${(r.flags ?? []).join(',')}` : '']
}

before(async () => {
  await lab.cluster(3, { pods: (n) => (n === lab.nodes[2] ? 0 : 1) })
})
after(async () => {
  await lab.down()
})

test('vxlan IPv6: flannel-v6.1 is VNI 1, port 8472, nolearning, sends from the node IPv6 address, MTU 1430, <lease IPv6>/128, up', async () => {
  const n = lab.nodes[0]
  const l = await link(n, DEV6)
  const d = l.linkinfo.info_data
  assert.equal(l.linkinfo.info_kind, 'vxlan')
  assert.deepEqual([d.id, d.port, d.learning, d.local6, d.link], [1, 8472, false, n.ip6, 'eth0'])
  assert.equal(l.mtu, 1430)
  assert.ok(l.flags.includes('UP'))
  const addrs = (await inNs<any[]>(n, ['ip', '-6', '-j', 'addr', 'show', 'dev', DEV6]))[0].addr_info.filter((a: any) => a.scope === 'global')
  assert.deepEqual(
    addrs.map((a: any) => `${a.local}/${a.prefixlen}`),
    [`${net6(n).split('/')[0]}/128`],
  )
  assert.equal((await link(n, 'flannel.1')).mtu, 1450, 'IPv4 keeps MTU-50')
})

test('vxlan IPv6: the lease holds BackendData and BackendV6Data, each with its device MAC', async () => {
  for (const n of lab.nodes) {
    const v = JSON.parse((await lab.etcdctl(['get', keyOf(n), '--print-value-only'])).stdout)
    assert.deepEqual(v, {
      PublicIP: n.ip,
      PublicIPv6: n.ip6,
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: (await link(n, 'flannel.1')).address },
      BackendV6Data: { VNI: 1, VtepMAC: (await link(n, DEV6)).address },
    })
  }
})

test('vxlan IPv6: every node holds neigh, fdb (to the peer IPv6 address) and onlink route on flannel-v6.1 for each peer', async () => {
  for (const n of lab.nodes) {
    for (const m of lab.nodes.filter((x) => x !== n)) {
      const want = [(await link(m, DEV6)).address, m.ip6!, `${net6(m).split('/')[0]} onlink`]
      await lab.until(`${n.name}'s IPv6 entries for ${m.name}`, async () => JSON.stringify(await entries6(n, m)) === JSON.stringify(want), 10000)
    }
  }
})

test('vxlan IPv6: a pod reaches a pod on another node over flannel-v6.1 with its own address; outside it is masqueraded', async () => {
  const [a, b] = lab.pods
  assert.notEqual(a.node, b.node)
  const before = (await inNs<any[]>(a.node, ['ip', '-s', '-j', 'link', 'show', DEV6]))[0].stats64.tx.packets
  assert.deepEqual(await lab.sourcesSeen(a, b, 6), { byPod: a.ip6, outside: a.node.ip6 })
  const after = (await inNs<any[]>(a.node, ['ip', '-s', '-j', 'link', 'show', DEV6]))[0].stats64.tx.packets
  assert.ok(after > before, 'packets went through flannel-v6.1')
})

test("vxlan IPv6: a peer's lease deleted -> its IPv6 neigh, fdb and route are gone from the others", async () => {
  const [a, , c] = lab.nodes
  await lab.stopFlanneld(c)
  await lab.etcdctl(['del', keyOf(c)])
  await lab.until(`${a.name}'s IPv6 entries for ${c.name} gone`, async () => JSON.stringify(await entries6(a, c)) === JSON.stringify(['', '', '']), 15000)
})
