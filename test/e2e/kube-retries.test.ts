// The subnet writer's writes to the Kubernetes API under the double's fault injection: 409 Conflict,
// 429 with Retry-After and 5xx on the nodes/<n>/status PATCH are retried with a log line and then
// succeed; the wait Retry-After asks for is measured from the double's own request timeline; a
// PATCH that would change nothing is not sent (annotations, then the condition).
// (401/403 and an untrusted server are permanent: kube-mode.test.ts.)
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, inNs, must, dist, waitFor } from '../helpers/scope.ts'
import { startKubeDouble, type KubeDouble } from '../helpers/kube-double-client.ts'

const P = 'flannel.alpha.coreos.com/'
const scope = new Scope()
after(() => scope.close())
let ns: string
let d: KubeDouble
let kc: string
let netConf: string
let dir: string

type Seen = { at: number; request: string; code?: number }
/** The PATCHes of one Node's status the double saw since the last call, with their status. */
const patches = async (node: string) => (await d.call<Seen[]>('timeline')).filter((t) => t.request === `PATCH /api/v1/nodes/${node}/status`)
const subnetArgv = (node: string, once = true) => [
  'env',
  `NODE_NAME=${node}`,
  process.execPath,
  dist('weft-subnet'),
  '--kube-subnet-mgr',
  `--kubeconfig-file=${kc}`,
  `--net-config-path=${netConf}`,
  '--public-ip=10.1.0.11',
  '--mtu=1500',
  `--subnet-file=${join(dir, `${node}.env`)}`,
  ...(once ? ['--once'] : []),
]
const once = (node: string) => inNs(ns, subnetArgv(node))

before(async () => {
  ns = scope.ns('kretry')
  must(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'])
  must(['ip', '-n', ns, 'addr', 'add', '10.1.0.11/24', 'dev', 'eth0'])
  must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
  d = await startKubeDouble(scope, { netns: ns, host: '127.0.0.1' })
  dir = scope.tmp('kretry')
  netConf = join(dir, 'net-conf.json')
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}\n')
  kc = d.kubeconfig({ token: d.flannelToken })
})

test('409 Conflict on the status PATCH: said, retried, then written', async () => {
  await d.node('n1', '10.244.1.0/24')
  await d.call('injectFault', { code: 409, times: 2, match: '^PATCH /api/v1/nodes/n1/status$' })
  await d.call('timeline')
  const r = once('n1')
  assert.equal(r.code, 0, r.stderr)
  assert.match(
    r.stderr,
    /publishing our annotations: PATCH \/api\/v1\/nodes\/n1\/status: 409 Operation cannot be fulfilled on nodes "n1": the object has been modified.*; retrying in 1\.0 s/,
  )
  assert.match(r.stderr, /publishing our annotations: the API server answers again after \d+ s/)
  assert.deepEqual(
    (await patches('n1')).map((p) => p.code),
    [409, 409, 200],
  )
  assert.equal((await d.call<any>('getNode', 'n1')).metadata.annotations[`${P}public-ip`], '10.1.0.11')
})

test('429 with Retry-After: 2 is retried after the 2 s the server asked for (measured by the double)', async () => {
  await d.node('n2', '10.244.2.0/24')
  await d.call('injectFault', { code: 429, times: 1, retryAfter: 2, match: '^PATCH /api/v1/nodes/n2/status$' })
  await d.call('timeline')
  const r = once('n2')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /PATCH \/api\/v1\/nodes\/n2\/status: 429 TooManyRequests Too many requests, please try again later\.; retrying in 2\.0 s/)
  const [first, second] = await patches('n2')
  assert.equal(first.code, 429)
  assert.equal(second.code, 200)
  // Our own backoff would have come back after 1 s: the gap shows Retry-After was obeyed.
  assert.ok(second.at - first.at >= 1995, `the retry came ${second.at - first.at} ms after the 429`)
})

test('5xx on the GET and the PATCH: retried with a growing backoff, then written', async () => {
  await d.node('n3', '10.244.3.0/24')
  await d.call('injectFault', { code: 500, times: 1, match: '^GET /api/v1/nodes/n3$' })
  await d.call('injectFault', { code: 503, times: 2, match: '^PATCH /api/v1/nodes/n3/status$' })
  await d.call('timeline')
  const r = once('n3')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /reading Node n3: GET \/api\/v1\/nodes\/n3: 500 InternalError .*; retrying in 1\.0 s/)
  assert.match(r.stderr, /publishing our annotations: PATCH \/api\/v1\/nodes\/n3\/status: 503 ServiceUnavailable .*; retrying in 1\.0 s/)
  const p = await patches('n3')
  assert.deepEqual(
    p.map((x) => x.code),
    [503, 503, 200],
  )
  assert.ok(p[1].at - p[0].at >= 995 && p[2].at - p[1].at >= 1995, `backoff 1 s then 2 s: ${p[1].at - p[0].at} ms, ${p[2].at - p[1].at} ms`)
  assert.equal((await d.call<any>('getNode', 'n3')).metadata.annotations[`${P}kube-subnet-manager`], 'true')
})

test('a PATCH that changes nothing is not sent: annotations up to date, then the condition already FlannelIsUp', async () => {
  await d.call('timeline')
  const r = once('n1')
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /Node n1: annotations already up to date/)
  assert.deepEqual(await patches('n1'), [])

  // The daemon sets the condition (a 409 on that PATCH too is retried), and a restart writes nothing.
  await d.call('injectFault', { code: 409, times: 1, match: '^PATCH /api/v1/nodes/n1/status$' })
  const daemon = () => {
    const p = scope.spawn(subnetArgv('n1', false), { netns: ns })
    let text = ''
    p.stderr!.on('data', (c) => (text += c))
    return { p, text: () => text }
  }
  const first = daemon()
  await waitFor('the condition', () => first.text().includes('condition NetworkUnavailable=False'), 20000)
  first.p.kill('SIGTERM')
  assert.match(first.text(), /setting NetworkUnavailable=False: PATCH \/api\/v1\/nodes\/n1\/status: 409 .*; retrying in 1\.0 s/)
  const cond = (await d.call<any>('getNode', 'n1')).status.conditions.find((c: { type: string }) => c.type === 'NetworkUnavailable')
  assert.equal(cond.reason, 'FlannelIsUp')
  assert.deepEqual(
    (await patches('n1')).map((x) => x.code),
    [409, 200],
  )

  // Restarted: the Node is read twice (our subnet, then the condition) and never patched.
  const again = daemon()
  const seen: Seen[] = []
  await waitFor(
    'two reads of Node n1',
    async () => {
      seen.push(...(await d.call<Seen[]>('timeline')))
      return seen.filter((t) => t.request === 'GET /api/v1/nodes/n1').length >= 2
    },
    20000,
  )
  await waitFor('the keeper to find the condition set', () => /condition NetworkUnavailable already False/.test(again.text()), 20000)
  again.p.kill('SIGTERM')
  seen.push(...(await d.call<Seen[]>('timeline')))
  assert.deepEqual(
    seen.filter((t) => t.request.startsWith('PATCH')),
    [],
  )
  assert.doesNotMatch(again.text(), /condition NetworkUnavailable=False/)
})
