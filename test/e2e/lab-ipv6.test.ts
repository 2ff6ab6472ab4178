// The lab in dual stack (EnableIPv6, host-gw): 2 nodes with IPv6 underlay addresses, flanneld
// picking each node's global IPv6 address, pods with one address of each family.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), ipv6: true })
before(async () => {
  await lab.cluster(2)
  // each node's route to the other's IPv6 subnet
  for (const [n, m] of [lab.nodes, [...lab.nodes].reverse()]) {
    await lab.until(`${n.name}'s IPv6 route`, async () => (await lab.routesOf(n, 6)).some((r) => r.dst === lab.subnet6Of(m) && r.gateway === m.ip6), 15000)
  }
})
after(async () => {
  await lab.down()
})

test('subnet.env holds both families; the lease key and value are dual stack', async () => {
  const [n] = lab.nodes
  const env = readFileSync(n.subnetFile, 'utf8')
  assert.match(
    env,
    /^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_IPV6_NETWORK=fd44::\/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:[0-9a-f]+::1\/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n$/,
  )
  const v4 = lab.subnetOf(n).replace(/\.1\//, '.0-').replace('/', '-')
  const v6 = lab.subnet6Of(n)!.replace('/', '-')
  const got = (await lab.etcdctl(['get', `/coreos.com/network/subnets/${v4}&${v6}`, '--print-value-only'])).stdout.trim()
  assert.equal(got, `{"PublicIP":"${n.ip}","PublicIPv6":"${n.ip6}","BackendType":"host-gw"}`)
})

test('pods get an address of each family; pods reach each other over IPv6 across nodes', async () => {
  const [a, b] = lab.pods
  assert.match(a.ip, /^10\.244\./)
  assert.match(a.ip6 ?? '', /^fd44:/)
  assert.match(b.ip6 ?? '', /^fd44:/)
  // A first echo may be lost while cni0's new address or a neighbour settles.
  await lab.until('ping -6 from pod a to pod b', () => lab.ping(a.ns, b.ip6!), 5000)
  await lab.until('ping -6 from pod b to pod a', () => lab.ping(b.ns, a.ip6!), 5000)
})

test("IPv6: the source is kept between nodes and masqueraded to the node's IPv6 address outside", async () => {
  const [a, b] = lab.pods
  assert.deepEqual(await lab.sourcesSeen(a, b, 6), { byPod: a.ip6, outside: a.node.ip6 })
})

test("ip6tables holds FLANNEL-POSTRTG for the node's IPv6 subnet", async () => {
  const n = lab.nodes[0]
  const s = (await run(['ip', 'netns', 'exec', n.ns, 'ip6tables', '-t', 'nat', '-S', 'FLANNEL-POSTRTG'])).stdout
  assert.match(s, new RegExp(`-A FLANNEL-POSTRTG -s ${lab.subnet6Of(n)!.replace(/[.:/]/g, (c) => `\\${c}`)} -d fd44::/56 -m comment --comment "flanneld masq" -j RETURN`))
  assert.match(s, /-A FLANNEL-POSTRTG -s fd44::\/56 ! -d ff00::\/8 -m comment --comment "flanneld masq" -j MASQUERADE/)
})

test('flanneld --dry-run in dual stack: the IPv6 lease, subnet.env keys and peer routes are planned, nothing changed', async () => {
  const n = await lab.addNode()
  const before = (await lab.etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets'])).stdout
  const r = await run([
    'ip',
    'netns',
    'exec',
    n.ns,
    process.execPath,
    join(root, 'dist', 'flanneld'),
    `--etcd-endpoints=${lab.endpoint}`,
    `--subnet-file=${n.subnetFile}`,
    '--ip-masq',
    '--dry-run',
  ])
  assert.match(r.stdout, /version\("\/coreos\.com\/network\/subnets\/10\.244\.\d+\.0-24&fd44:0:0:[0-9a-f]+::-64"\) = "0"/)
  assert.match(r.stdout, /\\"PublicIPv6\\":\\"fd77::13\\"/)
  assert.match(r.stdout, /\nFLANNEL_IPV6_NETWORK=fd44::\/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:[0-9a-f]+::1\/64\n/)
  assert.match(r.stdout, /# weft-masq --dry-run\n[^#]*-A FLANNEL-POSTRTG -s fd44::\/56 ! -d ff00::\/8/)
  assert.match(r.stdout, /# weft-routes --dry-run\n[^#]*route replace fd44:0:0:[0-9a-f]+::\/64 via fd77::1[12] dev eth0/)
  assert.equal((await lab.etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets'])).stdout, before, 'no lease taken')
  assert.equal((await lab.routesOf(n, 6)).filter((x) => x.gateway).length, 0, 'no IPv6 route')
})
