// The multi-node lab as a test bed (issue 3): 3 nodes in namespaces, a real etcd, flanneld on
// each, pods through dist/flannel with Debian's bridge + host-local.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Lab, OUTSIDE_IP, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { root } from '../helpers/scope.ts'
import { holdsFor, untilPrinted } from '../helpers/wait.ts'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { run } from '../../scripts/lib/core/sh.ts'

const dist = join(root, 'dist')
const lab = new Lab({ dist })
const ROUTE_WAIT = 20000

async function peerRoutes(n: LabNode): Promise<Map<string, string>> {
  const m = new Map<string, string>()
  for (const r of await lab.routesOf(n)) if (r.dst.startsWith('10.244.') && r.gateway) m.set(r.dst, r.gateway)
  return m
}
const leaseOf = (n: LabNode) => lab.subnetOf(n).replace(/\.1\//, '.0/')
const keyOf = (n: LabNode) => `/coreos.com/network/subnets/${leaseOf(n).replace('/', '-')}`

async function allRoutesIn(): Promise<void> {
  for (const n of lab.nodes) {
    if (!n.flanneld || n.flanneld.exitCode !== null) continue
    const want = lab.nodes.filter((m) => m !== n).map(leaseOf)
    await lab.until(
      `${n.name}'s routes`,
      async () => {
        const have = await peerRoutes(n)
        return want.every((w) => have.has(w))
      },
      ROUTE_WAIT,
    )
  }
}

before(async () => {
  await lab.cluster(3, { args: () => ['--healthz-port=8081', '--healthz-ip=127.0.0.1'] })
  await allRoutesIn()
})
after(async () => {
  await lab.down()
})

test('each node holds a distinct subnet inside the network, written to subnet.env in flannel format', () => {
  const subnets = lab.nodes.map((n) => lab.subnetOf(n))
  assert.equal(new Set(subnets).size, 3)
  for (const s of subnets) assert.match(s, /^10\.244\.\d+\.1\/24$/)
})

test('every node routes every other node subnet via that node public IP', async () => {
  for (const n of lab.nodes) {
    const have = await peerRoutes(n)
    for (const m of lab.nodes.filter((x) => x !== n)) assert.equal(have.get(leaseOf(m)), m.ip, `${n.name} -> ${m.name}`)
  }
})

test('cross-node pod-to-pod both ways keeps the pod source address', async () => {
  const [a, b] = [lab.pods[0], lab.pods[1]]
  for (const [from, to] of [
    [a, b],
    [b, a],
  ]) {
    const srv = lab.startWhoAmI(to.ns, to.ip)
    await untilPrinted(srv, 'up')
    assert.equal(await lab.sourceSeen(from.ns, to.ip), from.ip)
    srv.kill()
  }
})

test('a pod reaches the outside host through masquerade (source = its node address)', async () => {
  const p = lab.pods[0]
  const srv = lab.startWhoAmI(lab.out, OUTSIDE_IP)
  await untilPrinted(srv, 'up')
  assert.equal(await lab.sourceSeen(p.ns, OUTSIDE_IP), p.node.ip)
  srv.kill()
})

test('/healthz answers 200 and /readyz 200 once subnet.env is written', async () => {
  const js = `Promise.all(['/healthz','/readyz'].map(p=>fetch('http://127.0.0.1:8081'+p).then(r=>r.status+' '+r.statusText))).then(x=>console.log(x.join(',')))`
  const r = await run(['ip', 'netns', 'exec', lab.nodes[0].ns, process.execPath, '-e', js])
  assert.equal(r.stdout.trim(), '200 OK,200 OK')
})

test('a route inside the network added by hand is removed; one outside it is kept', async () => {
  const n = lab.nodes[0]
  await run(['ip', '-n', n.ns, 'route', 'add', '10.244.250.0/24', 'via', lab.nodes[1].ip])
  await run(['ip', '-n', n.ns, 'route', 'add', '172.30.0.0/24', 'via', lab.nodes[1].ip])
  await lab.until('the stray route to be removed', async () => !(await peerRoutes(n)).has('10.244.250.0/24'), ROUTE_WAIT)
  const all = (await lab.routesOf(n)).map((r) => r.dst)
  assert.ok(all.includes('172.30.0.0/24'), 'the route outside the network stays')
})

test('flanneld restarted keeps its subnet', async () => {
  const n = lab.nodes[1]
  const before = lab.subnetOf(n)
  await lab.stopFlanneld(n)
  lab.startFlanneld(n, ['--healthz-port=8081', '--healthz-ip=127.0.0.1'])
  await lab.until('flanneld to log readiness again', () => /flannel is ready/.test(lab.logOf(n).split('Exiting cleanly').pop() ?? ''), 20000)
  assert.equal(lab.subnetOf(n), before)
})

test('etcd stopped for 10 s: routes stay, the daemons recover and resume watching', async () => {
  const before = await peerRoutes(lab.nodes[0])
  await lab.stopEtcd()
  await holdsFor('routes stay while etcd is down', async () => (assert.deepEqual(await peerRoutes(lab.nodes[0]), before), true), 10000, 250)
  await lab.startEtcd()
  // a new peer lease put after the outage must reach every node through the resumed watch
  const lease = JSON.stringify({ PublicIP: '192.168.77.99', PublicIPv6: null, BackendType: 'host-gw', BackendData: null })
  await lab.etcdctl(['put', '/coreos.com/network/subnets/10.244.200.0-24', lease])
  for (const n of lab.nodes) await lab.until(`${n.name} to route the new lease`, async () => (await peerRoutes(n)).get('10.244.200.0/24') === '192.168.77.99', ROUTE_WAIT)
  await lab.etcdctl(['del', '/coreos.com/network/subnets/10.244.200.0-24'])
  for (const n of lab.nodes) await lab.until(`${n.name} to drop the deleted lease`, async () => !(await peerRoutes(n)).has('10.244.200.0/24'), ROUTE_WAIT)
})

test('flanneld restarts a part that dies, with a logged backoff', async () => {
  const n = lab.nodes[0]
  const pid = n.flanneld!.pid!
  const child = (name: string) => {
    const r = spawnSync('pgrep', ['-P', String(pid), '-f', name], { encoding: 'utf8' })
    return r.stdout.trim().split('\n').filter(Boolean).map(Number)[0]
  }
  const before = child('weft-routes')
  assert.ok(before, 'weft-routes runs under flanneld')
  process.kill(before, 'SIGKILL')
  await lab.until(
    'weft-routes to be restarted',
    () => {
      const now = child('weft-routes')
      return !!now && now !== before
    },
    15000,
  )
  assert.match(lab.logOf(n), /weft-routes died \(SIGKILL\); restarting in 1s/)
  // and the restarted syncer does its job: a route deleted by hand comes back
  const victim = leaseOf(lab.nodes[1])
  await run(['ip', '-n', n.ns, 'route', 'del', victim])
  await lab.until('the deleted route to come back', async () => (await peerRoutes(n)).has(victim), ROUTE_WAIT)
})

test('a node stopped and its lease deleted: its routes disappear from the others', async () => {
  const gone = lab.nodes[2]
  const subnet = leaseOf(gone)
  const routesBefore = await peerRoutes(gone)
  await lab.stopFlanneld(gone)
  assert.equal(gone.flanneld!.exitCode, 0, 'SIGTERM: exit 0')
  // flannel leaves everything in place on exit: routes, rules, subnet.env and the lease
  assert.deepEqual(await peerRoutes(gone), routesBefore)
  assert.match((await lab.etcdctl(['get', keyOf(gone)])).stdout, /"PublicIP":"192\.168\.77\.13"/)
  await lab.etcdctl(['del', keyOf(gone)])
  for (const n of lab.nodes.slice(0, 2)) await lab.until(`${n.name} to drop ${subnet}`, async () => !(await peerRoutes(n)).has(subnet), ROUTE_WAIT)
})
