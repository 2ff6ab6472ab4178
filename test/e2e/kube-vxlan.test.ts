// flanneld --kube-subnet-mgr with the vxlan backend: flannel.1's VNI and MAC published as the
// backend-data annotation, pods reach each other through the overlay, and a restart that finds
// flannel.1 gone makes it again with the MAC our Node's annotation holds (peers' FDB stays right).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, waitFor, root, inNs } from '../helpers/scope.ts'
import { startKubeDouble, type KubeDouble } from '../helpers/kube-double-client.ts'
import { Lab, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { startKubeFlanneld } from '../helpers/kube-lab.ts'

const P = 'flannel.alpha.coreos.com/'
const scope = new Scope()
const lab = new Lab({ dist: join(root, 'dist') })
after(async () => {
  await lab.down()
  await scope.close()
})
let d: KubeDouble
let kubeconfig: string
let netConf: string

const start = (n: LabNode) => startKubeFlanneld(lab, n, { kubeconfig, netConf })
const macOf = (n: LabNode) => JSON.parse(inNs(n.ns, ['ip', '-j', 'link', 'show', 'flannel.1']).stdout || '[{}]')[0].address as string | undefined

test("vxlan on the API double: backend-data is flannel.1's VNI and MAC, pods ping across", async () => {
  await lab.up()
  d = await startKubeDouble(scope, { netns: lab.sw, host: '192.168.77.1' })
  netConf = join(d.dir, 'net-conf.json')
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}\n')
  kubeconfig = d.kubeconfig({ token: d.flannelToken, name: 'flannel' })
  for (let i = 1; i <= 2; i++) {
    const n = await lab.addNode()
    await d.node(n.name, `10.244.${i}.0/24`)
    start(n)
  }
  const [n1, n2] = lab.nodes
  for (const n of lab.nodes) await lab.waitReady(n, 40000)
  assert.match(lab.subnetOf(n1), /^10\.244\.1\.1\/24$/)
  const node1 = await d.call<any>('getNode', 'node1')
  assert.equal(node1.metadata.annotations[`${P}backend-type`], 'vxlan')
  assert.equal(node1.metadata.annotations[`${P}backend-data`], JSON.stringify({ VNI: 1, VtepMAC: macOf(n1) }))
  await waitFor('n1 has n2 as a vxlan peer', () => /10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 onlink/.test(inNs(n1.ns, ['ip', 'route']).stdout), 30000)
  const p1 = await lab.addPod(n1)
  const p2 = await lab.addPod(n2)
  await waitFor('pod to pod over vxlan', () => lab.ping(p1.ns, p2.ip), 20000)
  assert.ok(await lab.ping(p2.ns, p1.ip))
})

test("vxlan restart: flannel.1 deleted while flanneld was down comes back with the annotation's MAC", async () => {
  const [n1, n2] = lab.nodes
  const mac = macOf(n1)!
  await lab.stopFlanneld(n1)
  inNs(n1.ns, ['ip', 'link', 'del', 'flannel.1'])
  start(n1)
  await waitFor('flannel.1 made again', () => macOf(n1) === mac, 40000)
  const fdb = () => inNs(n2.ns, ['bridge', 'fdb', 'show', 'dev', 'flannel.1']).stdout
  assert.match(fdb(), new RegExp(`${mac} dst 192\\.168\\.77\\.11`), 'n2 still sends to the same MAC')
  const [p1, p2] = lab.pods
  await waitFor('pod to pod again', () => lab.ping(p2.ns, p1.ip), 30000)
})
