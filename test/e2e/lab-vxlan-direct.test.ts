// The lab with "Backend":{"Type":"vxlan","DirectRouting":true}: every node sits on one underlay
// segment, so every real peer gets a plain route via its PublicIP on eth0 and nothing on the
// overlay; a peer whose PublicIP is off the segment (a lease put by hand, no traffic sent to it)
// stays on flannel.1. Pods still reach each other with their own addresses.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Lab, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { runJson } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), backend: 'vxlan', config: { Backend: { Type: 'vxlan', DirectRouting: true } } })
const P = '/coreos.com/network/subnets'
const FAR = { key: `${P}/10.244.250.0-24`, subnet: '10.244.250.0/24', ip: '172.31.9.9', mac: '0a:00:00:00:fa:fa' }
const net = (n: LabNode) => lab.subnetOf(n).replace(/\.1\//, '.0/')
const inNs = <T>(n: LabNode, argv: string[]) => runJson<T>(['ip', 'netns', 'exec', n.ns, ...argv])
type Route = { dst: string; gateway?: string; dev?: string; flags?: string[] }
const routesOn = (n: LabNode, dev: string) => inNs<Route[]>(n, ['ip', '-4', '-j', 'route', 'show', 'dev', dev])

before(async () => {
  await lab.cluster(2, {
    beforeFlanneld: () => lab.etcdctl(['put', FAR.key, JSON.stringify({ PublicIP: FAR.ip, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: FAR.mac } })]),
  })
})
after(async () => {
  await lab.down()
})

test('vxlan DirectRouting: a peer on the same segment gets "<subnet> via <PublicIP> dev eth0", no neighbour or fdb entry on flannel.1', async () => {
  const [a, b] = lab.nodes
  await lab.until("a's direct route to b", async () => (await routesOn(a, 'eth0')).some((r) => r.dst === net(b) && r.gateway === b.ip), 15000)
  const onOverlay = await routesOn(a, 'flannel.1')
  assert.ok(!onOverlay.some((r) => r.dst === net(b)), JSON.stringify(onOverlay))
  const neigh = await inNs<{ dst: string }[]>(a, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1'])
  assert.ok(!neigh.some((e) => e.dst === net(b).split('/')[0]), JSON.stringify(neigh))
  const bMac = (await inNs<{ address: string }[]>(b, ['ip', '-j', 'link', 'show', 'flannel.1']))[0].address
  const fdb = await inNs<{ mac: string }[]>(a, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])
  assert.ok(!fdb.some((e) => e.mac === bMac), JSON.stringify(fdb))
})

test('vxlan DirectRouting: a peer off the segment stays on the overlay (neighbour, fdb, onlink route on flannel.1)', async () => {
  const [a] = lab.nodes
  await lab.until("a's overlay route to the far peer", async () => (await routesOn(a, 'flannel.1')).some((r) => r.dst === FAR.subnet), 15000)
  const r = (await routesOn(a, 'flannel.1')).find((x) => x.dst === FAR.subnet)!
  assert.equal(r.gateway, '10.244.250.0')
  assert.ok(r.flags?.includes('onlink'))
  const fdb = await inNs<{ mac: string; dst?: string }[]>(a, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])
  assert.equal(fdb.find((e) => e.mac === FAR.mac)?.dst, FAR.ip)
  assert.ok(!(await routesOn(a, 'eth0')).some((x) => x.dst === FAR.subnet))
})

test('vxlan DirectRouting: pods on the two nodes reach each other with their own addresses, over eth0 not flannel.1', async () => {
  const [pa, pb] = lab.pods
  assert.notEqual(pa.node, pb.node)
  const before = (await inNs<any[]>(pa.node, ['ip', '-s', '-j', 'link', 'show', 'flannel.1']))[0].stats64.tx.packets
  assert.equal((await lab.sourcesSeen(pa, pb)).byPod, pa.ip)
  const after = (await inNs<any[]>(pa.node, ['ip', '-s', '-j', 'link', 'show', 'flannel.1']))[0].stats64.tx.packets
  assert.equal(after, before, 'no packet went through the overlay')
})

test('vxlan DirectRouting: a peer that leaves loses its direct route', async () => {
  const [a, b] = lab.nodes
  await lab.stopFlanneld(b)
  await lab.etcdctl(['del', `${P}/${net(b).replace('/', '-')}`])
  await lab.until("b's direct route gone from a", async () => !(await routesOn(a, 'eth0')).some((r) => r.dst === net(b)), 15000)
})
