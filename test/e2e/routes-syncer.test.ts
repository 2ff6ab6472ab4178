// dist/weft-routes against a real etcd and a real kernel, all in namespaces: a "node" netns whose
// veth0 (192.168.50.1/24) reaches a "switch" netns (192.168.50.100) where etcd runs, so every
// `via 192.168.50.x` is on-link. The root namespace is never touched.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync, type ChildProcess } from 'node:child_process'
import { Scope, must, inNs, waitFor, dist } from '../helpers/scope.ts'
import { holdsFor } from '../helpers/wait.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'

const P = '/coreos.com/network'
const scope = new Scope()
let node = ''
let sw = ''
let etcd: Etcd
let subnetFile = ''
let tmp = ''
let daemon: { proc: ChildProcess; log: () => string } | undefined

const lease = (ip: string, type = 'host-gw') => JSON.stringify({ PublicIP: ip, PublicIPv6: null, BackendType: type, BackendData: null })
const put = (k: string, v: string) => assert.equal(etcdctl(etcd.endpoint, ['put', `${P}/subnets/${k}`, v], { netns: sw }).code, 0)
const del = (k: string) => assert.equal(etcdctl(etcd.endpoint, ['del', `${P}/subnets/${k}`], { netns: sw }).code, 0)

/** "dst via gw" for every gateway route of the node's main table, sorted. */
function routes(): string[] {
  const j = JSON.parse(must(['ip', '-n', node, '-j', 'route', 'show', 'table', 'main']).stdout) as { dst: string; gateway?: string }[]
  return j
    .filter((r) => r.gateway)
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort()
}
const has = (r: string) => routes().includes(r)

function syncer(args: string[]) {
  return spawnSync('ip', ['netns', 'exec', node, dist('weft-routes'), ...base(), ...args], { encoding: 'utf8', timeout: 20000 })
}
function base(): string[] {
  return ['--etcd-endpoints', etcd.endpoint, '--iface', 'veth0', '--subnet-file', subnetFile]
}
function startDaemon() {
  let text = ''
  const proc = scope.spawn([dist('weft-routes'), ...base(), '--resync', '1'], { netns: node })
  proc.stderr!.on('data', (d) => (text += d))
  proc.stdout!.on('data', (d) => (text += d))
  daemon = { proc, log: () => text }
  return daemon
}
async function stopDaemon(): Promise<number | null> {
  const d = daemon!
  daemon = undefined
  d.proc.kill('SIGTERM')
  await new Promise((r) => (d.proc.exitCode !== null ? r(null) : d.proc.once('exit', r)))
  return d.proc.exitCode
}

before(async () => {
  node = scope.ns('rn')
  sw = scope.ns('rs')
  must(['ip', '-n', node, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'vsw', 'netns', sw])
  must(['ip', '-n', node, 'addr', 'add', '192.168.50.1/24', 'dev', 'veth0'])
  must(['ip', '-n', sw, 'addr', 'add', '192.168.50.100/24', 'dev', 'vsw'])
  must(['ip', '-n', node, 'link', 'set', 'veth0', 'up'])
  must(['ip', '-n', sw, 'link', 'set', 'vsw', 'up'])
  // Our own bridge-like route (10.244.1.0/24 dev cni0 proto kernel), which must never be touched.
  must(['ip', '-n', node, 'link', 'add', 'cni0', 'type', 'veth', 'peer', 'name', 'cni0p'])
  must(['ip', '-n', node, 'addr', 'add', '10.244.1.1/24', 'dev', 'cni0'])
  must(['ip', '-n', node, 'link', 'set', 'cni0p', 'up'])
  must(['ip', '-n', node, 'link', 'set', 'cni0', 'up'])
  etcd = await startEtcd(scope, { netns: sw, ip: '192.168.50.100' })
  assert.equal(etcdctl(etcd.endpoint, ['put', `${P}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'], { netns: sw }).code, 0)
  tmp = scope.tmp('routes')
  subnetFile = join(tmp, 'subnet.env')
  writeFileSync(subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
  put('10.244.1.0-24', lease('192.168.50.1')) // our own
  put('10.244.2.0-24', lease('192.168.50.12'))
  put('10.244.3.0-24', lease('192.168.50.13'))
  // A peer that left while the syncer was down: its route is still in the kernel.
  must(['ip', '-n', node, 'route', 'add', '10.244.7.0/24', 'via', '192.168.50.17', 'dev', 'veth0'])
})

after(async () => {
  await scope.close()
})

test('--iface naming no interface, or with # or a quote: a clear message, nothing changed', () => {
  const before = routes()
  const r = spawnSync('ip', ['netns', 'exec', node, dist('weft-routes'), '--etcd-endpoints', etcd.endpoint, '--iface', 'nosuch0', '--subnet-file', subnetFile, '--once'], {
    encoding: 'utf8',
  })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /--iface nosuch0: no such interface/)
  assert.deepEqual(routes(), before)
  // Characters ip's batch parser would read as a comment or a quote are refused up front.
  for (const bad of ['eth#0', 'a"b']) {
    const b = spawnSync('ip', ['netns', 'exec', node, dist('weft-routes'), '--etcd-endpoints', etcd.endpoint, '--iface', bad, '--subnet-file', subnetFile, '--once'], {
      encoding: 'utf8',
    })
    assert.equal(b.status, 2, b.stderr)
    assert.match(b.stderr, /does not support # " ' or \\ in interface names/)
  }
  assert.deepEqual(routes(), before)
})

test('--dry-run prints the one batch and changes nothing', () => {
  const before = routes()
  const r = syncer(['--dry-run'])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(
    r.stdout,
    "ip -force -batch - <<'EOF'\n" +
      'route del 10.244.7.0/24 via 192.168.50.17 dev veth0\n' +
      'route replace 10.244.2.0/24 via 192.168.50.12 dev veth0\n' +
      'route replace 10.244.3.0/24 via 192.168.50.13 dev veth0\n' +
      'EOF\n',
  )
  assert.deepEqual(routes(), before)
})

test('--once: routes for 2 peers appear; the route of a peer that left while down is removed', () => {
  const r = syncer(['--once'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /routes: 2 added, 0 replaced, 1 removed/)
  assert.deepEqual(routes(), ['10.244.2.0/24 via 192.168.50.12', '10.244.3.0/24 via 192.168.50.13'])
  // the bridge route of our own subnet is still there
  assert.match(must(['ip', '-n', node, 'route', 'show', '10.244.1.0/24']).stdout, /dev cni0/)
  // a second run changes nothing
  const again = syncer(['--once'])
  assert.equal(again.status, 0)
  assert.doesNotMatch(again.stderr, /routes:/)
})

test('daemon: a new lease gets its route, a deleted lease loses it', async () => {
  startDaemon()
  await waitFor('the watch to start', () => /watching/.test(daemon!.log()))
  put('10.244.4.0-24', lease('192.168.50.14'))
  await waitFor('route to 10.244.4.0/24', () => has('10.244.4.0/24 via 192.168.50.14'), 5000, 20)
  put('10.244.4.0-24', lease('192.168.50.24'))
  await waitFor('route to 10.244.4.0/24 replaced', () => has('10.244.4.0/24 via 192.168.50.24'), 5000, 20)
  del('10.244.4.0-24')
  await waitFor('route to 10.244.4.0/24 removed', () => !routes().some((r) => r.startsWith('10.244.4.0/24')), 5000, 20)
  assert.deepEqual(routes(), ['10.244.2.0/24 via 192.168.50.12', '10.244.3.0/24 via 192.168.50.13'])
})

test('resync: a hand-added route inside the network is removed, one outside kept, a deleted one comes back', async () => {
  must(['ip', '-n', node, 'route', 'add', '10.244.77.0/24', 'via', '192.168.50.77', 'dev', 'veth0'])
  must(['ip', '-n', node, 'route', 'add', '10.99.0.0/24', 'via', '192.168.50.77', 'dev', 'veth0'])
  must(['ip', '-n', node, 'route', 'add', '10.244.88.0/24', 'dev', 'veth0']) // no gateway: not ours to judge
  must(['ip', '-n', node, 'route', 'del', '10.244.2.0/24'])
  await waitFor('drift repaired', () => !has('10.244.77.0/24 via 192.168.50.77') && has('10.244.2.0/24 via 192.168.50.12'), 5000, 50)
  assert.ok(has('10.99.0.0/24 via 192.168.50.77'))
  assert.match(must(['ip', '-n', node, 'route', 'show', '10.244.88.0/24']).stdout, /dev veth0/)
  must(['ip', '-n', node, 'route', 'del', '10.244.88.0/24'])
})

const pwned = () => join(tmp, 'pwned')
const bad: [string, string, () => string][] = [
  ['subnet 0.0.0.0/0', '0.0.0.0-0', () => lease('192.168.50.30')],
  ['subnet outside the network', '10.99.5.0-24', () => lease('192.168.50.31')],
  ['wrong prefix length', '10.244.5.0-25', () => lease('192.168.50.32')],
  ['subnet equal to ours', '10.244.1.0-24', () => lease('192.168.50.33')],
  ['PublicIP with a shell command', '10.244.6.0-24', () => lease(`1.2.3.4; touch ${pwned()}`)],
  ['PublicIP ::1', '10.244.8.0-24', () => lease('::1')],
  ['empty PublicIP', '10.244.9.0-24', () => lease('')],
  ['BackendData not an object', '10.244.10.0-24', () => JSON.stringify({ PublicIP: '192.168.50.40', BackendType: 'host-gw', BackendData: 'x' })],
  ['another backend type', '10.244.11.0-24', () => lease('192.168.50.41', 'vxlan')],
]
for (const [name, key, value] of bad) {
  test(`bad peer lease: ${name} is ignored with a warning naming the key, no route`, async () => {
    const before = routes()
    put(key, value())
    await waitFor('the warning', () => daemon!.log().includes(`ignoring lease ${P}/subnets/${key}: `), 5000, 20)
    const line = daemon!
      .log()
      .split('\n')
      .find((l) => l.includes(`ignoring lease ${P}/subnets/${key}: `))!
    assert.match(line, /warning: /)
    await holdsFor('no route for the bad lease', () => (assert.deepEqual(routes(), before), true), 300)
    assert.equal(existsSync(pwned()), false)
    if (key === '10.244.1.0-24') put(key, lease('192.168.50.1'))
    else del(key)
  })
}

test('SIGTERM: exit 0 leaving routes; a peer that leaves meanwhile loses its route at restart', async () => {
  const code = await stopDaemon()
  assert.equal(code, 0)
  assert.deepEqual(routes(), ['10.244.2.0/24 via 192.168.50.12', '10.244.3.0/24 via 192.168.50.13', '10.99.0.0/24 via 192.168.50.77'].sort())
  del('10.244.3.0-24')
  startDaemon()
  await waitFor('stale route removed at start', () => !has('10.244.3.0/24 via 192.168.50.13'), 15000, 20)
  assert.ok(has('10.244.2.0/24 via 192.168.50.12'))
})

test('etcd stopped for 10 s: routes stay, the syncer recovers and a lease put after restart gets its route', async () => {
  await waitFor('the watch to start', () => /watching/.test(daemon!.log()))
  const before = routes()
  await etcd.stop()
  // Ten resyncs (--resync 1) and the watch's reconnects all fail meanwhile: the routes stay.
  await holdsFor('the routes, while etcd is down', () => (assert.deepEqual(routes(), before), true), 10000, 250)
  assert.match(daemon!.log(), /etcd (watch broken|unreachable|still unreachable).*keeping routes/, daemon!.log())
  await etcd.start()
  put('10.244.12.0-24', lease('192.168.50.52'))
  await waitFor('route after etcd restart', () => has('10.244.12.0/24 via 192.168.50.52'), 15000, 50).catch((e) => {
    throw new Error(`${e.message}\nsyncer log:\n${daemon!.log()}`)
  })
  await waitFor('the recovery said', () => /etcd reachable again after \d+ s/.test(daemon!.log()), 5000)
  assert.equal(daemon!.proc.exitCode, null)
})

test('etcd unreachable at start: --once waits and says so, then proceeds', async () => {
  await stopDaemon()
  del('10.244.12.0-24')
  await etcd.stop()
  const p = scope.spawn([dist('weft-routes'), ...base(), '--once'], { netns: node })
  let text = ''
  p.stderr!.on('data', (d) => (text += d))
  await waitFor('the wait said', () => /etcd unreachable \(list: .*ECONNREFUSED/.test(text), 15000)
  assert.equal(p.exitCode, null)
  await etcd.start()
  const code = await new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', r)))
  assert.equal(code, 0, text)
  assert.match(text, /routes: 0 added, 0 replaced, 1 removed/)
  assert.ok(!has('10.244.12.0/24 via 192.168.50.52'))
})

test('network config missing at start: --once waits and says so (as flannel), then routes once it is put', async () => {
  const cfg = etcdctl(etcd.endpoint, ['get', '--print-value-only', `${P}/config`], { netns: sw }).stdout.trim()
  assert.equal(etcdctl(etcd.endpoint, ['del', `${P}/config`], { netns: sw }).code, 0)
  // The config comes back whatever happens, so a failure here does not break the tests after it.
  const restore = () => etcdctl(etcd.endpoint, ['put', `${P}/config`, cfg], { netns: sw })
  try {
    put('10.244.13.0-24', lease('192.168.50.53'))
    const p = scope.spawn([dist('weft-routes'), ...base(), '--once'], { netns: node })
    let text = ''
    p.stderr!.on('data', (d) => (text += d))
    await waitFor('the wait said', () => /flannel config not found in etcd store \(\/coreos\.com\/network\/config\)\. .*Retrying every second/.test(text), 15000)
    // Over a window with retries every second: still waiting, no route, the message said once.
    await holdsFor(
      'waiting for the config',
      () => {
        assert.equal(p.exitCode, null, text)
        assert.ok(!has('10.244.13.0/24 via 192.168.50.53'), 'no route before the config exists')
        assert.equal((text.match(/config not found/g) ?? []).length, 1, `said once, not every second:\n${text}`)
        return true
      },
      1500,
    )
    assert.equal(restore().code, 0)
    const code = await new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', r)))
    assert.equal(code, 0, text)
    assert.ok(has('10.244.13.0/24 via 192.168.50.53'), text)
  } finally {
    restore()
    del('10.244.13.0-24')
  }
})

test('--ip-blackhole-route: our subnet gets blackhole metric 10000, the bridge route still wins, an unrouted pod address is dropped here, not sent out', async () => {
  const blackholes = () =>
    (JSON.parse(must(['ip', '-n', node, '-j', 'route', 'show', 'table', 'main', 'type', 'blackhole']).stdout) as { dst: string; metric?: number }[]).map(
      (r) => `${r.dst} metric ${r.metric ?? 0}`,
    )
  // A default route inside the node namespace: without the blackhole, an address of our subnet
  // that no route covers would leave that way.
  must(['ip', '-n', node, 'route', 'add', 'default', 'via', '192.168.50.100'])
  try {
    const r = syncer(['--once', '--ip-blackhole-route'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /1 blackhole route added/)
    assert.deepEqual(blackholes(), ['10.244.1.0/24 metric 10000'])
    // The bridge's own route (cni0, metric 0) still carries the subnet's traffic.
    assert.match(must(['ip', '-n', node, 'route', 'get', '10.244.1.5']).stdout, /dev cni0/)
    // A second run finds it and adds nothing.
    const again = syncer(['--once', '--ip-blackhole-route'])
    assert.equal(again.status, 0, again.stderr)
    assert.doesNotMatch(again.stderr, /blackhole route added/)
    assert.deepEqual(blackholes(), ['10.244.1.0/24 metric 10000'])
    // Without the bridge route (cni0 without its address), the blackhole catches the subnet.
    must(['ip', '-n', node, 'addr', 'del', '10.244.1.1/24', 'dev', 'cni0'])
    try {
      const get = inNs(node, ['ip', 'route', 'get', '10.244.1.5'])
      assert.notEqual(get.code, 0, `routed: ${get.stdout}`)
      assert.match(get.stderr, /Invalid argument/, 'a blackhole lookup fails with EINVAL')
    } finally {
      must(['ip', '-n', node, 'addr', 'add', '10.244.1.1/24', 'dev', 'cni0'])
    }
    // Deleted by hand: the next run puts it back; without the flag nothing is added.
    must(['ip', '-n', node, 'route', 'del', 'blackhole', '10.244.1.0/24', 'metric', '10000'])
    const off = syncer(['--once'])
    assert.equal(off.status, 0, off.stderr)
    assert.deepEqual(blackholes(), [])
    const back = syncer(['--once', '--ip-blackhole-route'])
    assert.match(back.stderr, /1 blackhole route added/)
    assert.deepEqual(blackholes(), ['10.244.1.0/24 metric 10000'])
    const dry = syncer(['--dry-run', '--ip-blackhole-route'])
    assert.doesNotMatch(dry.stdout, /blackhole/, 'present: nothing planned')
  } finally {
    inNs(node, ['ip', 'route', 'del', 'blackhole', '10.244.1.0/24', 'metric', '10000'])
    must(['ip', '-n', node, 'route', 'del', 'default', 'via', '192.168.50.100'])
  }
})
