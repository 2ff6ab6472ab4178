// flanneld --kube-subnet-mgr end to end: 3 nodes in namespaces on the lab's underlay, the
// Kubernetes API test double in the switch namespace, host-gw. subnet.env byte for byte, flannel's
// annotations and condition, routes both ways, pods through dist/flannel, a node found through its
// pod, node-public-ip, public-ip-overwrite, in-cluster credentials, a Node without podCIDR that gets one, Nodes added/deleted, hostile Nodes, every watch
// reset with history compacted, bad credentials, SIGTERM.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { Scope, waitFor, dist, root, inNs } from '../helpers/scope.ts'
import { startKubeDouble, makeCa, makeLeaf, type KubeDouble } from '../helpers/kube-double-client.ts'
import { Lab, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { gatewayRoutes, startKubeFlanneld as startOnDouble } from '../helpers/kube-lab.ts'

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
const managed = (ip: string) => ({ [`${P}kube-subnet-manager`]: 'true', [`${P}backend-type`]: 'host-gw', [`${P}backend-data`]: 'null', [`${P}public-ip`]: ip })
const routes = (n: LabNode) => gatewayRoutes(lab, n)

const startKubeFlanneld = (n: LabNode, env: Record<string, string>, extra: string[] = []) => startOnDouble(lab, n, { kubeconfig, netConf, env, extra })

test('3 nodes on the API double: subnet.env, annotations, condition, routes both ways, pods ping', async () => {
  await lab.up()
  d = await startKubeDouble(scope, { netns: lab.sw, host: '192.168.77.1', bookmarkMs: 1000 })
  netConf = join(d.dir, 'net-conf.json')
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}\n')
  kubeconfig = d.kubeconfig({ token: d.flannelToken, name: 'flannel' })
  for (let i = 0; i < 3; i++) await lab.addNode()
  const [n1, n2, n3] = lab.nodes
  await d.node('node1', '10.244.1.0/24')
  // node2: peers are told to reach it at its public-ip-overwrite address.
  await d.node('node2', '10.244.2.0/24', { metadata: { annotations: { [`${P}public-ip-overwrite`]: '192.168.77.112' } } })
  inNs(n2.ns, ['ip', 'addr', 'add', '192.168.77.112/24', 'dev', 'eth0'])
  // node3: no podCIDR yet, and its address for peers given by the node-public-ip annotation.
  await d.node('node3', undefined, { metadata: { annotations: { [`${P}node-public-ip`]: '192.168.77.113' } } })
  inNs(n3.ns, ['ip', 'addr', 'add', '192.168.77.113/24', 'dev', 'eth0'])
  await d.call('addPod', 'kube-flannel', 'kube-flannel-ds-x2', 'node2')
  startKubeFlanneld(n1, { NODE_NAME: 'node1' })
  startKubeFlanneld(n2, { POD_NAME: 'kube-flannel-ds-x2', POD_NAMESPACE: 'kube-flannel' })
  startKubeFlanneld(n3, { NODE_NAME: 'node3' })
  await lab.waitReady(n1)
  await lab.waitReady(n2)
  assert.equal(readFileSync(n1.subnetFile, 'utf8'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n')
  assert.equal(readFileSync(n2.subnetFile, 'utf8'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n')
  assert.match(lab.logOf(n2), /Node name node2 \(from pod kube-flannel\/kube-flannel-ds-x2\)/)

  // node3 waits, saying flannel's words, and takes its podCIDR when the controller gives one.
  await waitFor('node3 to say it waits', () => lab.logOf(n3).includes('node "node3" pod cidr not assigned'), 20000)
  assert.equal(existsSync(n3.subnetFile), false)
  await d.call('updateNode', 'node3', { spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24'] } })
  await lab.waitReady(n3)
  assert.match(lab.logOf(n3), /Using 192\.168\.77\.113 from node annotation flannel\.alpha\.coreos\.com\/node-public-ip as --public-ip/)
  assert.equal((await d.call<any>('getNode', 'node3')).metadata.annotations[`${P}public-ip`], '192.168.77.113')

  const node1 = await d.call<any>('getNode', 'node1')
  assert.deepEqual(node1.metadata.annotations, managed('192.168.77.11'))
  assert.equal((await d.call<any>('getNode', 'node2')).metadata.annotations[`${P}public-ip`], '192.168.77.112')
  assert.match(lab.logOf(n2), /Overriding public ip with '192\.168\.77\.112' from node annotation 'flannel\.alpha\.coreos\.com\/public-ip-overwrite'/)
  const cond = node1.status.conditions.find((c: any) => c.type === 'NetworkUnavailable')
  assert.equal(cond.status, 'False')
  assert.equal(cond.reason, 'FlannelIsUp')
  assert.equal(cond.message, 'Flannel is running on this node')

  await waitFor('routes both ways', async () => (await routes(n1)).length === 2 && (await routes(n3)).length === 2, 20000).catch((e) =>
    Promise.reject(new Error(`${e.message}\n--- node1 log ---\n${lab.logOf(n1)}`)),
  )
  assert.deepEqual(await routes(n1), ['10.244.2.0/24 via 192.168.77.112', '10.244.3.0/24 via 192.168.77.113'])
  assert.deepEqual(await routes(n2), ['10.244.1.0/24 via 192.168.77.11', '10.244.3.0/24 via 192.168.77.113'])
  assert.deepEqual(await routes(n3), ['10.244.1.0/24 via 192.168.77.11', '10.244.2.0/24 via 192.168.77.112'])

  const p1 = await lab.addPod(n1)
  const p3 = await lab.addPod(n3)
  assert.ok(await lab.ping(p1.ns, p3.ip), `pod ${p1.ip} -> ${p3.ip}`)
  assert.ok(await lab.ping(p3.ns, p1.ip), `pod ${p3.ip} -> ${p1.ip}`)
})

test('a Node added then deleted gets, then loses, its route; hostile Nodes never reach the kernel', async () => {
  const n1 = lab.nodes[0]
  await d.node('node4', '10.244.4.0/24', { metadata: { annotations: managed('192.168.77.14') } })
  await waitFor('node4 route', async () => (await routes(n1)).includes('10.244.4.0/24 via 192.168.77.14'), 15000)
  await d.call('deleteNode', 'node4')
  await waitFor('node4 route gone', async () => !(await routes(n1)).some((r) => r.startsWith('10.244.4.0/24')), 15000)

  await d.node('evil-all', '0.0.0.0/0', { metadata: { annotations: managed('192.168.77.50') } })
  await d.node('evil-out', '10.9.0.0/24', { metadata: { annotations: managed('192.168.77.51') } })
  await d.node('evil-shell', '10.244.52.0/24', { metadata: { annotations: managed('192.168.77.52$(touch /tmp/weft-pwned);') } })
  await d.node('evil-bare', '10.244.53.0/24', { metadata: { annotations: { [`${P}kube-subnet-manager`]: 'true' } } })
  await waitFor(
    'a warning for each hostile Node',
    () => {
      const log = lab.logOf(n1)
      return (
        log.includes('node/evil-all/subnets/0.0.0.0-0: subnet 0.0.0.0/0 would cover every address') &&
        log.includes('outside the network') &&
        log.includes('is not a plain IPv4 address') &&
        log.includes('node/evil-bare/subnets/10.244.53.0-24: PublicIP null')
      )
    },
    15000,
  )
  assert.deepEqual(await routes(n1), ['10.244.2.0/24 via 192.168.77.112', '10.244.3.0/24 via 192.168.77.113'])
  assert.equal(existsSync('/tmp/weft-pwned'), false)
  for (const n of ['evil-all', 'evil-out', 'evil-shell', 'evil-bare']) await d.call('deleteNode', n)
})

test('every watch reset while history is compacted: relist, a Node deleted meanwhile loses its route', async () => {
  const n1 = lab.nodes[0]
  await d.node('node5', '10.244.5.0/24', { metadata: { annotations: managed('192.168.77.15') } })
  await waitFor('node5 route', async () => (await routes(n1)).includes('10.244.5.0/24 via 192.168.77.15'), 15000)
  await d.call('hold', true)
  assert.ok((await d.call<number>('dropWatches')) >= 3, 'every node watches')
  await d.call('deleteNode', 'node5')
  await d.node('node6', '10.244.6.0/24', { metadata: { annotations: managed('192.168.77.16') } })
  await d.call('compact')
  await d.call('hold', false)
  await waitFor(
    'node5 gone and node6 routed after a relist',
    async () => {
      const r = await routes(n1)
      return !r.some((x) => x.startsWith('10.244.5.')) && r.includes('10.244.6.0/24 via 192.168.77.16')
    },
    20000,
  )
  assert.match(lab.logOf(n1), /too old \(410 Gone, history compacted\); listing again/)
  await d.call('deleteNode', 'node6')

  // Throttled (429, Retry-After: 1) while reconnecting: the watch waits as told, then resumes.
  await d.call('fail', 3, 429, 1)
  await d.call('dropWatches')
  await d.node('node7', '10.244.7.0/24', { metadata: { annotations: managed('192.168.77.17') } })
  await waitFor('node7 routed after the 429s', async () => (await routes(n1)).includes('10.244.7.0/24 via 192.168.77.17'), 20000)
  assert.match(lab.nodes.map((n) => lab.logOf(n)).join(''), /watching Nodes: GET \/api\/v1\/nodes: 429 TooManyRequests .*; resuming from resourceVersion \d+ in 1 s/)
  await d.call('deleteNode', 'node7')
})

test('bad credentials: wrong token (401), missing RBAC (403), another CA: one line, exit 1, nothing written', async () => {
  const n1 = lab.nodes[0]
  const file = join(n1.dir, 'never.env')
  const run = (kc: string) =>
    spawnSync(
      'ip',
      [
        'netns',
        'exec',
        n1.ns,
        'env',
        'NODE_NAME=node1',
        process.execPath,
        dist('flanneld'),
        '--kube-subnet-mgr',
        `--kubeconfig-file=${kc}`,
        `--net-config-path=${netConf}`,
        `--subnet-file=${file}`,
      ],
      { encoding: 'utf8', timeout: 60000 },
    )
  const wrong = run(d.kubeconfig({ token: 'not-the-token' }))
  assert.equal(wrong.status, 1, wrong.stderr)
  assert.match(wrong.stderr, /error: the API server refused our credentials \(401 Unauthorized\) for GET \/api\/v1\/nodes\/node1/)
  const nobody = makeLeaf(d.ca, 'nobody', { user: 'system:serviceaccount:default:nobody' })
  const denied = run(d.kubeconfig({ cert: nobody }))
  assert.equal(denied.status, 1, denied.stderr)
  assert.match(
    denied.stderr,
    /nodes "node1" is forbidden: User "system:serviceaccount:default:nobody" cannot get resource "nodes" .*needs the rule apiGroups: \[""\], resources: \["nodes"\], verbs: \["get"\]/,
  )
  const other = makeCa(scope.tmp('other'), 'other-ca')
  const kc = d.kubeconfig({ token: d.flannelToken, name: 'otherca' }).replace(/$/, '')
  writeFileSync(kc, readFileSync(kc, 'utf8').replace(/certificate-authority: .*/, `certificate-authority: ${other.certFile}`))
  await d.call('requests')
  const untrusted = run(kc)
  assert.equal(untrusted.status, 1, untrusted.stderr)
  assert.match(untrusted.stderr, /presented a certificate we do not trust/)
  assert.deepEqual(await d.call('requests'), [], 'no request (and so no token) reached the server')
  assert.equal(existsSync(file), false)
  for (const r of [wrong, denied, untrusted]) assert.ok(!/restarting/.test(r.stderr), 'no restart loop')

  const missing = run(join(d.dir, 'no-such-kubeconfig'))
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /cannot read kubeconfig/)
})

test('in-cluster credentials (service host/port, token and CA files): the subnet writer takes its podCIDR', () => {
  const n1 = lab.nodes[0]
  const sa = scope.tmp('sa')
  writeFileSync(join(sa, 'token'), d.flannelToken + '\n')
  writeFileSync(join(sa, 'ca.crt'), d.ca.cert)
  const file = join(sa, 'subnet.env')
  const env = {
    PATH: process.env.PATH,
    KUBERNETES_SERVICE_HOST: '192.168.77.1',
    KUBERNETES_SERVICE_PORT: new URL(d.url).port,
    WEFT_KUBE_SERVICEACCOUNT_DIR: sa,
    NODE_NAME: 'node1',
  }
  const r = inNs(
    n1.ns,
    [process.execPath, dist('weft-subnet'), '--kube-subnet-mgr', `--net-config-path=${netConf}`, '--public-ip=192.168.77.11', '--mtu=1500', `--subnet-file=${file}`, '--once'],
    { env },
  )
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /credentials from in-cluster/)
  assert.equal(readFileSync(file, 'utf8'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
  assert.match(r.stderr, /annotations already up to date/, 'nothing rewritten')
})

test('SIGTERM: exit 0, routes, annotations and condition stay', async () => {
  const n1 = lab.nodes[0]
  const p = n1.flanneld!
  const code = new Promise((r) => p.once('exit', (c) => r(c)))
  p.kill('SIGTERM')
  assert.equal(await code, 0)
  assert.deepEqual(await routes(n1), ['10.244.2.0/24 via 192.168.77.112', '10.244.3.0/24 via 192.168.77.113'])
  const node1 = await d.call<any>('getNode', 'node1')
  assert.equal(node1.metadata.annotations[`${P}kube-subnet-manager`], 'true')
  assert.equal(node1.status.conditions[0].reason, 'FlannelIsUp')
})
