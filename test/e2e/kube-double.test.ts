// The Kubernetes API test double checked against the real clients: kubectl 1.32 and Debian's
// python3-kubernetes. What they get from it is what a kube-apiserver gives them (see the header of
// test/helpers/kube-api-double.ts for where each behaviour comes from).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, waitFor } from '../helpers/scope.ts'
import { startKubeDouble, makeCa, makeLeaf, type KubeDouble } from '../helpers/kube-double-client.ts'

const scope = new Scope()
after(() => scope.close())
let d: KubeDouble
let admin: string
let flannel: string

const kubectl = (kc: string, ...args: string[]) => spawnSync('kubectl', ['--kubeconfig', kc, ...args], { encoding: 'utf8', timeout: 30000 })
const py = (script: string, env: Record<string, string>) => spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } })
const hasPy = spawnSync('/usr/bin/python3', ['-c', 'import kubernetes'], { encoding: 'utf8' }).status === 0

test('kubectl: list (chunked), get, patch --subresource=status keeps spec, RBAC and tokens', async () => {
  d = await startKubeDouble(scope)
  for (let i = 1; i <= 5; i++) await d.node(`n${i}`, `10.244.${i}.0/24`)
  admin = d.kubeconfig({ token: d.adminToken })
  flannel = d.kubeconfig({ token: d.flannelToken, caData: true })

  const l = kubectl(flannel, 'get', 'nodes', '--chunk-size=2', '-o', 'name', '-v=6')
  assert.equal(l.status, 0, l.stderr)
  assert.deepEqual(l.stdout.trim().split('\n'), ['node/n1', 'node/n2', 'node/n3', 'node/n4', 'node/n5'])
  assert.equal((l.stderr.match(/GET \S+\/api\/v1\/nodes\?(continue=\S+&)?limit=2 200/g) ?? []).length, 3, 'three pages of 2')

  // kubectl GETs nodes/<n>/status before patching it, which flannel's ClusterRole does not allow:
  // as against a real apiserver, it is refused; flanneld only ever PATCHes.
  const denied = kubectl(flannel, 'patch', 'node', 'n1', '--subresource=status', '-p', '{"metadata":{"annotations":{"a":"b"}}}')
  assert.match(denied.stderr, /User "system:serviceaccount:kube-flannel:flannel" cannot get resource "nodes\/status" in API group "" at the cluster scope/)
  const p = kubectl(
    admin,
    'patch',
    'node',
    'n1',
    '--subresource=status',
    '-p',
    JSON.stringify({
      metadata: { annotations: { 'flannel.alpha.coreos.com/public-ip': '192.168.1.1' } },
      spec: { podCIDR: '10.9.9.0/24' },
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp' }] },
    }),
  )
  assert.equal(p.status, 0, p.stderr)
  const p2 = kubectl(admin, 'patch', 'node', 'n1', '--subresource=status', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}')
  assert.equal(p2.status, 0, p2.stderr)
  const n1 = JSON.parse(kubectl(flannel, 'get', 'node', 'n1', '-o', 'json').stdout)
  assert.equal(n1.spec.podCIDR, '10.244.1.0/24', 'status subresource drops spec changes')
  assert.equal(n1.metadata.annotations['flannel.alpha.coreos.com/public-ip'], '192.168.1.1')
  assert.deepEqual(
    n1.status.conditions.map((c: { type: string }) => c.type),
    ['NetworkUnavailable', 'Ready'],
    'conditions merge by type',
  )

  const rv = n1.metadata.resourceVersion
  assert.equal(kubectl(admin, 'patch', 'node', 'n1', '--subresource=status', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}').status, 0)
  assert.equal(JSON.parse(kubectl(flannel, 'get', 'node', 'n1', '-o', 'json').stdout).metadata.resourceVersion, rv, 'a no-op patch keeps the RV')

  const del = kubectl(flannel, 'delete', 'node', 'n5')
  assert.notEqual(del.status, 0)
  assert.match(
    del.stderr,
    /Error from server \(Forbidden\): nodes "n5" is forbidden: User "system:serviceaccount:kube-flannel:flannel" cannot delete resource "nodes" in API group "" at the cluster scope/,
  )
  const specPatch = kubectl(flannel, 'patch', 'node', 'n1', '-p', '{"spec":{"unschedulable":true}}')
  assert.match(specPatch.stderr, /cannot patch resource "nodes" in API group ""/)
  await d.call('addPod', 'kube-flannel', 'flannel-abc', 'n2')
  assert.equal(kubectl(flannel, 'get', 'pod', '-n', 'kube-flannel', 'flannel-abc', '-o', 'jsonpath={.spec.nodeName}').stdout, 'n2', 'pods get is allowed')

  const bad = kubectl(d.kubeconfig({ token: 'not-a-token' }), 'get', 'nodes')
  assert.match(bad.stderr, /You must be logged in to the server \(Unauthorized\)/)
  const other = makeCa(scope.tmp('otherca'), 'other-ca')
  const wrongCa = spawnSync('kubectl', ['--kubeconfig', flannel, '--certificate-authority', other.certFile, 'get', 'nodes'], { encoding: 'utf8' })
  assert.match(wrongCa.stderr, /certificate signed by unknown authority/)
  const cert = makeLeaf(d.ca, 'flannel-client', { user: 'system:serviceaccount:kube-flannel:flannel' })
  const byCert = kubectl(d.kubeconfig({ cert }), 'get', 'node', 'n2', '-o', 'name')
  assert.equal(byCert.stdout.trim(), 'node/n2', byCert.stderr)
})

test('kubectl: watch sees ADDED/MODIFIED/DELETED; 429 with Retry-After is retried', async () => {
  const w = spawn('kubectl', ['--kubeconfig', flannel, 'get', 'nodes', '--watch', '--output-watch-events', '-o', 'jsonpath={.type} {.object.metadata.name}{"\\n"}'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  scope.procs.push(w)
  let out = ''
  w.stdout.on('data', (c) => (out += c))
  await waitFor('the initial list', () => out.includes('ADDED n5'), 20000)
  await d.node('n6', '10.244.6.0/24')
  await d.call('updateNode', 'n6', { metadata: { labels: { a: 'b' } } })
  await d.call('deleteNode', 'n6')
  await waitFor('three events for n6', () => /ADDED n6\nMODIFIED n6\nDELETED n6/.test(out), 20000)
  w.kill()

  await d.call('fail', 1, 429, 1)
  const t0 = Date.now()
  const g = kubectl(flannel, 'get', 'node', 'n2', '-o', 'name', '-v=6')
  assert.equal(g.stdout.trim(), 'node/n2', g.stderr)
  assert.match(g.stderr, /429 Too Many Requests/)
  assert.ok(Date.now() - t0 >= 900, 'kubectl waited for Retry-After: 1')
})

test('python3-kubernetes: chunked list, watch from RV with 410 on compacted history, patch_node_status', {
  skip: !hasPy && 'python3-kubernetes is not installed (apt-get install python3-kubernetes)',
}, async () => {
  const kc = d.kubeconfig({ token: d.flannelToken, name: 'py' })
  const script = `
import json, os, sys
from kubernetes import client, config, watch
config.load_kube_config(os.environ['KC'])
v1 = client.CoreV1Api()
pages, names, cont = 0, [], None
while True:
    r = v1.list_node(limit=2, _continue=cont)
    pages += 1; names += [n.metadata.name for n in r.items]; cont = r.metadata._continue
    if not cont: break
rv = r.metadata.resource_version
v1.patch_node_status('n3', {'metadata': {'annotations': {'x': 'y'}}, 'spec': {'podCIDR': '1.1.1.0/24'}})
n3 = v1.read_node('n3')
seen = []
for ev in watch.Watch().stream(v1.list_node, resource_version=rv, timeout_seconds=2, allow_watch_bookmarks=True):
    o = ev['object']
    seen.append(ev['type'] + ' ' + (o['metadata']['resourceVersion'] if isinstance(o, dict) else o.metadata.name))
err = ''
try:
    for ev in watch.Watch().stream(v1.list_node, resource_version='1', timeout_seconds=2, _preload_content=False):
        pass
except client.exceptions.ApiException as e:
    err = str(e.status) + ' ' + str(e.reason)
print(json.dumps({'pages': pages, 'names': names, 'seen': seen, 'ann': n3.metadata.annotations, 'cidr': n3.spec.pod_cidr, 'err': err}))
`
  await d.call('compact')
  const r = py(script, { KC: kc })
  assert.equal(r.status, 0, r.stderr)
  const o = JSON.parse(r.stdout)
  assert.equal(o.pages, 3)
  assert.deepEqual(o.names, ['n1', 'n2', 'n3', 'n4', 'n5'])
  assert.equal(o.seen[0], 'MODIFIED n3', 'the watch starts after the list RV')
  assert.ok(
    o.seen.slice(1).every((s: string) => s.startsWith('BOOKMARK ')),
    `then only bookmarks: ${o.seen}`,
  )
  assert.ok(o.seen.length >= 2, 'a bookmark before the timeout')
  assert.equal(o.ann.x, 'y')
  assert.equal(o.cidr, '10.244.3.0/24')
  assert.match(o.err, /^410 /, 'a watch from a compacted RV ends in 410')
})

test('the double writes down its sources', () => {
  const head = spawnSync('sed', ['-n', '1,40p', join(import.meta.dirname, '../helpers/kube-api-double.ts')], { encoding: 'utf8' }).stdout
  for (const w of ['TEST DOUBLE', 'kubectl', 'python3-kubernetes', '410', 'Retry-After', 'status']) assert.ok(head.includes(w), w)
  writeFileSync(join(d.dir, 'done'), '')
})
