// flanneld --kube-subnet-mgr in dual stack (EnableIPv6, host-gw), 2 nodes on the API double: Nodes
// with spec.podCIDRs of both families, subnet.env byte for byte as etcd mode writes it (see
// ipv6-etcd.test.ts / lab-ipv6.test.ts), the v6 annotations as flannel writes them
// (backend-v6-data, public-ipv6), IPv6 routes both ways, pods pinging over IPv6 through
// dist/flannel. Then vxlan: backend-v6-data holds flannel-v6.1's VNI and MAC.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, waitFor, dist, root, inNs } from '../helpers/scope.ts'
import { startKubeDouble, type KubeDouble } from '../helpers/kube-double-client.ts'
import { Lab, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { gatewayRoutes, startKubeFlanneld as startOnDouble } from '../helpers/kube-lab.ts'

const P = 'flannel.alpha.coreos.com/'
const scope = new Scope()
const lab = new Lab({ dist: join(root, 'dist'), ipv6: true })
after(async () => {
  await lab.down()
  await scope.close()
})
let d: KubeDouble
let kubeconfig: string
const cidrs = (i: number) => [`10.244.${i}.0/24`, `fd44:0:0:${i}::/64`]
const gwRoutes = (n: LabNode, fam: 4 | 6) => gatewayRoutes(lab, n, fam)

const startKubeFlanneld = (n: LabNode, netConf: string) => startOnDouble(lab, n, { kubeconfig, netConf })

test('dual stack, host-gw: podCIDRs of both families, subnet.env, v6 annotations, routes both ways, pods ping over IPv6', async () => {
  await lab.up()
  d = await startKubeDouble(scope, { netns: lab.sw, host: '192.168.77.1', bookmarkMs: 1000 })
  const netConf = join(d.dir, 'net-conf.json')
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}\n')
  kubeconfig = d.kubeconfig({ token: d.flannelToken, name: 'flannel' })
  for (let i = 1; i <= 2; i++) {
    await lab.addNode()
    await d.call('createNode', { metadata: { name: `node${i}` }, spec: { podCIDR: cidrs(i)[0], podCIDRs: cidrs(i) } })
  }
  const [n1, n2] = lab.nodes
  for (const n of lab.nodes) startKubeFlanneld(n, netConf)
  for (const n of lab.nodes) await lab.waitReady(n).catch((e) => Promise.reject(new Error(`${e.message}\n--- ${n.name} log ---\n${lab.logOf(n)}`)))

  // The same bytes etcd mode writes for these subnets (lab-ipv6.test.ts pins that format).
  assert.equal(
    readFileSync(n1.subnetFile, 'utf8'),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd44::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:1::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n',
  )
  assert.equal(
    readFileSync(n2.subnetFile, 'utf8'),
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_IPV6_NETWORK=fd44::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:2::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n',
  )
  // flannel (host-gw, PublicIPv6 set): backend-v6-data is the JSON of empty BackendV6Data, "null".
  assert.deepEqual((await d.call<any>('getNode', 'node1')).metadata.annotations, {
    [`${P}kube-subnet-manager`]: 'true',
    [`${P}backend-type`]: 'host-gw',
    [`${P}backend-data`]: 'null',
    [`${P}public-ip`]: '192.168.77.11',
    [`${P}backend-v6-data`]: 'null',
    [`${P}public-ipv6`]: 'fd77::11',
  })

  await waitFor(
    'IPv4 and IPv6 routes both ways',
    async () => (await gwRoutes(n1, 6)).length === 1 && (await gwRoutes(n2, 6)).length === 1 && (await gwRoutes(n1, 4)).length === 1 && (await gwRoutes(n2, 4)).length === 1,
    20000,
  ).catch((e) => Promise.reject(new Error(`${e.message}\n--- node1 log ---\n${lab.logOf(n1)}`)))
  assert.deepEqual(await gwRoutes(n1, 6), ['fd44:0:0:2::/64 via fd77::12'])
  assert.deepEqual(await gwRoutes(n2, 6), ['fd44:0:0:1::/64 via fd77::11'])
  assert.deepEqual(await gwRoutes(n1, 4), ['10.244.2.0/24 via 192.168.77.12'])
  assert.deepEqual(await gwRoutes(n2, 4), ['10.244.1.0/24 via 192.168.77.11'])

  const a = await lab.addPod(n1)
  const b = await lab.addPod(n2)
  assert.match(a.ip6 ?? '', /^fd44:0:0:1::/)
  assert.match(b.ip6 ?? '', /^fd44:0:0:2::/)
  // A first echo may be lost while cni0's new address or a neighbour settles.
  await lab.until('ping -6 from pod a to pod b', () => lab.ping(a.ns, b.ip6!), 5000)
  await lab.until('ping -6 from pod b to pod a', () => lab.ping(b.ns, a.ip6!), 5000)
})

test('dual stack: a peer Node listing its IPv6 podCIDR first gets routes of both families, and loses them when deleted', async () => {
  const [n1] = lab.nodes
  // podCIDRs in either order (the API allows it): split by family, as flannel does.
  await d.call('createNode', {
    metadata: {
      name: 'node3',
      annotations: {
        [`${P}kube-subnet-manager`]: 'true',
        [`${P}backend-type`]: 'host-gw',
        [`${P}backend-data`]: 'null',
        [`${P}public-ip`]: '192.168.77.13',
        [`${P}backend-v6-data`]: 'null',
        [`${P}public-ipv6`]: 'fd77::13',
      },
    },
    spec: { podCIDR: 'fd44:0:0:3::/64', podCIDRs: ['fd44:0:0:3::/64', '10.244.3.0/24'] },
  })
  await waitFor(
    'node3 routes, both families',
    async () => (await gwRoutes(n1, 6)).includes('fd44:0:0:3::/64 via fd77::13') && (await gwRoutes(n1, 4)).includes('10.244.3.0/24 via 192.168.77.13'),
    15000,
  )
  await d.call('deleteNode', 'node3')
  await waitFor(
    'node3 routes gone',
    async () => !(await gwRoutes(n1, 6)).some((r) => r.startsWith('fd44:0:0:3::')) && !(await gwRoutes(n1, 4)).some((r) => r.startsWith('10.244.3.')),
    15000,
  )
  assert.deepEqual(await gwRoutes(n1, 6), ['fd44:0:0:2::/64 via fd77::12'])
})

test('dual stack, vxlan: backend-v6-data holds flannel-v6.1 VNI and MAC, as flanneld publishes them', async () => {
  // One more node running the vxlan backend's subnet writer only (--once): its annotations.
  const n = await lab.addNode()
  await d.call('createNode', { metadata: { name: n.name }, spec: { podCIDR: cidrs(n.index)[0], podCIDRs: cidrs(n.index) } })
  const netConf = join(d.dir, 'net-conf-vxlan.json')
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"vxlan"}}\n')
  const r = inNs(
    n.ns,
    [
      'env',
      `NODE_NAME=${n.name}`,
      process.execPath,
      dist('weft-subnet'),
      '--kube-subnet-mgr',
      `--kubeconfig-file=${kubeconfig}`,
      `--net-config-path=${netConf}`,
      `--subnet-file=${n.subnetFile}`,
      '--public-ip=192.168.77.13',
      '--public-ipv6=fd77::13',
      '--vxlan-device',
      '--once',
    ],
    {},
  )
  assert.equal(r.code, 0, r.stderr)
  const an = (await d.call<any>('getNode', n.name)).metadata.annotations
  const mac6 = JSON.parse(inNs(n.ns, ['ip', '-j', 'link', 'show', 'flannel-v6.1']).stdout)[0].address
  const mac4 = JSON.parse(inNs(n.ns, ['ip', '-j', 'link', 'show', 'flannel.1']).stdout)[0].address
  assert.equal(an[`${P}backend-type`], 'vxlan')
  assert.equal(an[`${P}backend-data`], `{"VNI":1,"VtepMAC":"${mac4}"}`)
  assert.equal(an[`${P}backend-v6-data`], `{"VNI":1,"VtepMAC":"${mac6}"}`)
  assert.equal(an[`${P}public-ipv6`], 'fd77::13')
  assert.equal(
    readFileSync(n.subnetFile, 'utf8'),
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${n.index}.1/24\nFLANNEL_IPV6_NETWORK=fd44::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:${n.index}::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
  )
})
