// weft-doctor in Kubernetes mode, dual stack (issue 12): a 2-node vxlan lab with EnableIPv6 on
// the Kubernetes API double (weft-lab --kube --ipv6's cluster). Healthy is exit 0 with the IPv6
// rows ok (subnet.env's FLANNEL_IPV6_SUBNET is our Node's IPv6 podCIDR; 'annotations v6':
// public-ipv6 and backend-v6-data with flannel-v6.1's MAC, as weft-subnet's annotationPatch
// would write them). Our Node's public-ipv6 annotation removed, or its backend-v6-data VtepMAC
// wrong: exit 1, named by 'annotations v6' with the value wanted.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { runDoctor } from '../../scripts/lib/lab/doctor.ts'
import { readyz } from '../../scripts/lib/lab/probe.ts'
import { runJson } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), kube: true, ipv6: true, backend: 'vxlan' })
const FLAGS = ['--healthz-port=8081', '--healthz-ip=127.0.0.1']
const P = 'flannel.alpha.coreos.com/'
type Check = { check: string; state: string; detail: string; fix: string }
type Node = { metadata: { annotations: Record<string, string> } }

async function doctor(): Promise<{ code: number; checks: Map<string, Check>; text: string }> {
  const r = await runDoctor(lab, lab.nodes[0], ['--json'])
  assert.ok(r.stdout.startsWith('{'), `doctor printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`)
  const j = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] }
  assert.equal(j.ok, r.code === 0)
  return { code: r.code, checks: new Map(j.checks.map((c) => [c.check, c])), text: r.stdout }
}
const failing = (d: { checks: Map<string, Check> }) => [...d.checks.values()].filter((c) => c.state === 'fail').map((c) => c.check)
const annotation = async (key: string) => (await lab.kube!.call<Node>('getNode', 'node1')).metadata.annotations[P + key]
const setAnnotation = (key: string, value: string | null) => lab.kube!.call('updateNode', 'node1', { metadata: { annotations: { [P + key]: value } } })
const mac6 = async () => (await runJson<{ address: string }[]>(['ip', '-n', lab.nodes[0].ns, '-j', 'link', 'show', 'flannel-v6.1']))[0].address

/** The doctor with one annotation changed, put back afterwards (and the doctor healthy again). */
async function withAnnotation(key: string, value: string | null) {
  const good = await annotation(key)
  await setAnnotation(key, value)
  try {
    return await doctor()
  } finally {
    await setAnnotation(key, good)
  }
}

before(async () => {
  await lab.cluster(2, { args: () => FLAGS, pods: () => 0 })
  for (const n of lab.nodes) await lab.until(`${n.name} ready`, async () => (await readyz(n.ns)).ready, 30000)
})
after(() => lab.down())

test('a healthy dual-stack kube node: exit 0; subnet.env and annotations v6 ok, backend-v6-data holds flannel-v6.1 MAC', async () => {
  const d = await doctor()
  assert.deepEqual(failing(d), [], d.text)
  assert.equal(d.code, 0)
  for (const c of ['registry', 'subnet.env', 'annotations', 'annotations v6', 'vxlan device', 'vxlan peers']) assert.equal(d.checks.get(c)?.state, 'ok', `${c}: ${d.text}`)
  assert.match(d.checks.get('registry')!.detail, /Node node1 podCIDR 10\.244\.1\.0\/24, fd44:0:0:1::\/64; Network 10\.244\.0\.0\/16 \+ fd44::\/56, backend vxlan/)
  assert.match(d.checks.get('subnet.env')!.detail, /subnet 10\.244\.1\.0\/24 \+ fd44:0:0:1::\/64, our Node's podCIDR$/)
  assert.equal(d.checks.get('annotations v6')!.detail, `Node node1: backend-v6-data {"VNI":1,"VtepMAC":"${await mac6()}"}, public-ipv6 fd77::11, as this node publishes them`)
})

test("our Node's public-ipv6 annotation removed: exit 1, annotations v6 names it with the address this node would publish", async () => {
  const d = await withAnnotation('public-ipv6', null)
  assert.equal(d.code, 1)
  assert.deepEqual(failing(d), ['annotations v6'], d.text)
  assert.equal(d.checks.get('annotations v6')!.detail, `Node node1: ${P}public-ipv6 is missing, want "fd77::11"`)
  assert.match(d.checks.get('annotations v6')!.fix, /restart flanneld/)
})

test("our Node's backend-v6-data VtepMAC wrong: exit 1, annotations v6 names it with flannel-v6.1's MAC; put back, exit 0", async () => {
  const d = await withAnnotation('backend-v6-data', '{"VNI":1,"VtepMAC":"0a:00:00:00:00:06"}')
  assert.equal(d.code, 1)
  assert.deepEqual(failing(d), ['annotations v6'], d.text)
  assert.equal(
    d.checks.get('annotations v6')!.detail,
    `Node node1: ${P}backend-v6-data is ${JSON.stringify('{"VNI":1,"VtepMAC":"0a:00:00:00:00:06"}')}, want ${JSON.stringify(`{"VNI":1,"VtepMAC":"${await mac6()}"}`)}`,
  )
  assert.equal((await doctor()).code, 0)
})
