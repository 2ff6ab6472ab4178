// weft-subnet's lease liveness check, against a real etcd across a veth: weft-subnet runs in its
// own namespace whose only path to etcd (in another namespace) is the veth. To make the watch
// silently dead (half-open: no RST, no FIN), an nft rule inside weft-subnet's namespace drops
// every packet of the watch's TCP connection (found by its local port with ss); new connections
// pass. The key is then deleted from etcd's side (etcdctl in etcd's namespace).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { Scope, waitFor, dist, must, inNs } from '../helpers/scope.ts'
import { holdsFor, within, activeTimers, timersBackTo } from '../helpers/wait.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'
import { EtcdClient } from '../../scripts/lib/registry/etcd/client.ts'
import { keepLease } from '../../scripts/lib/subnet/renew.ts'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'

const scope = new Scope()
let etcd: Etcd
let ens: string // etcd's namespace, 10.77.0.1
before(async () => {
  ens = scope.ns('lce')
  must(['ip', '-n', ens, 'addr', 'add', '10.77.0.1/32', 'dev', 'lo'])
  etcd = await startEtcd(scope, { netns: ens, ip: '10.77.0.1' })
})
after(async () => {
  await scope.close()
})

const ETCD = '10.77.0.1:2379'
let n = 0

/** A namespace for one weft-subnet, joined to etcd's namespace by a veth (10.77.0.<2+n>). */
function nodeNs(): { ns: string; ip: string } {
  const ns = scope.ns('lcw')
  const i = n + 2
  const a = `lc${i}a`
  must(['ip', '-n', ens, 'link', 'add', a, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
  must(['ip', '-n', ens, 'link', 'set', a, 'up'])
  // /32 routes both ways: every node namespace hangs off etcd's namespace on its own veth.
  must(['ip', '-n', ens, 'route', 'add', `10.77.0.${i}/32`, 'dev', a])
  must(['ip', '-n', ns, 'addr', 'add', `10.77.0.${i}/32`, 'dev', 'eth0'])
  must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
  must(['ip', '-n', ns, 'route', 'add', '10.77.0.1/32', 'dev', 'eth0'])
  return { ns, ip: `10.77.0.${i}` }
}

interface Writer {
  p: ChildProcess
  ns: string
  out: { stdout: string; stderr: string }
  exited: Promise<number | null>
  key: string
  prefix: string
}

/** Start weft-subnet in a fresh node namespace; resolves once subnet.env is written. */
async function writer(args: string[]): Promise<Writer> {
  const { ns, ip } = nodeNs()
  const prefix = `/weft-lc-${process.pid}-${n++}/network`
  assert.equal(etcdctl(etcd.endpoint, ['put', `${prefix}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'], { netns: ens }).code, 0)
  const argv = [
    'node',
    dist('weft-subnet'),
    `--etcd-endpoints=http://${ETCD}`,
    `--etcd-prefix=${prefix}`,
    `--public-ip=${ip}`,
    '--mtu=1500',
    `--subnet-file=${join(scope.tmp(), 'subnet.env')}`,
    ...args,
  ]
  const p = scope.spawn(argv, { netns: ns })
  const out = { stdout: '', stderr: '' }
  p.stdout!.on('data', (d) => (out.stdout += d))
  p.stderr!.on('data', (d) => (out.stderr += d))
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)))
  const line = await waitFor('the subnet-written line', () => out.stdout.split('\n').find((l) => l.includes('"subnet-written"')), 15000)
  const subnet = String(JSON.parse(line).subnet)
  return { p, ns, out, exited, prefix, key: `${prefix}/subnets/${subnet.replace('/', '-')}` }
}

/** The established connections from ns to etcd: local port -> bytes sent and received on it. */
function etcdConns(ns: string): Map<number, { sent: number; received: number }> {
  const r = inNs(ns, ['ss', '-tniH', 'state', 'established', 'dst', ETCD])
  assert.equal(r.code, 0, r.stderr)
  const out = new Map<number, { sent: number; received: number }>()
  // -i puts each socket's counters on a line of its own, after the addresses.
  for (const m of r.stdout.matchAll(/:(\d+)\s+\S+:2379\b([\s\S]*?)(?=\n\S|$)/g)) {
    out.set(Number(m[1]), { sent: Number(/bytes_sent:(\d+)/.exec(m[2])?.[1] ?? 0), received: Number(/bytes_received:(\d+)/.exec(m[2])?.[1] ?? 0) })
  }
  return out
}

/**
 * The watch's connection. Every unary call goes over one kept-alive connection (weft-subnet makes
 * them one after the other: config read, lease list, grant, txn, the watch's list, the checks);
 * the watch has a connection of its own that carried one request. So: two connections, the watch
 * is the one that sent fewer bytes. Returns once etcd has answered on it: the reply headers come
 * with the watch's "created" message, so the watch is registered in etcd by then.
 */
async function watchConn(w: Writer): Promise<number> {
  return await waitFor(
    'the watch connection, created',
    () => {
      const c = [...etcdConns(w.ns)].sort((a, b) => a[1].sent - b[1].sent)
      return c.length === 2 && c[0][1].sent < c[1][1].sent && c[0][1].received > 0 && c[0][0]
    },
    10000,
  )
}

/** Silently drop every packet of these connections, inside ns only (no RST, no FIN: half-open). */
function blind(ns: string, ports: number[]): void {
  const set = ports.join(', ')
  const r = inNs(ns, ['nft', '-f', '-'], {
    input: `table inet weftblind {
  chain in { type filter hook input priority 0; policy accept; tcp dport { ${set} } counter drop; }
  chain out { type filter hook output priority 0; policy accept; tcp sport { ${set} } counter drop; }
}
`,
  })
  assert.equal(r.code, 0, r.stderr)
}

/** Packets etcd sent on the blinded connections that never reached the process. */
function droppedIn(ns: string): number {
  const r = inNs(ns, ['nft', '-j', 'list', 'chain', 'inet', 'weftblind', 'in'])
  assert.equal(r.code, 0, r.stderr)
  let packets = 0
  for (const o of JSON.parse(r.stdout).nftables) for (const e of o.rule?.expr ?? []) packets += e.counter?.packets ?? 0
  return packets
}

function del(key: string): void {
  const r = etcdctl(etcd.endpoint, ['del', key], { netns: ens })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), '1', `deleted ${key}`)
}
function exists(key: string): boolean {
  return etcdctl(etcd.endpoint, ['get', key, '--print-value-only'], { netns: ens }).stdout.trim() !== ''
}

test('baseline, check off (--lease-check-interval=0): a key deleted behind a blinded watch goes unnoticed', async () => {
  const w = await writer(['--lease-check-interval=0'])
  blind(w.ns, [await watchConn(w)])
  const before = droppedIn(w.ns)
  del(w.key)
  await holdsFor('weft-subnet running on, the deletion unnoticed', () => w.p.exitCode === null && !/revoked/.test(w.out.stderr), 8000)
  assert.ok(droppedIn(w.ns) > before, 'etcd did send the DELETE event (dropped on the way)')
  w.p.kill('SIGTERM')
  assert.equal(await w.exited, 0)
})

test('a key deleted while the watch is blind: exit 0 with "Lease has been revoked" within the check interval', async () => {
  const w = await writer(['--lease-check-interval=1'])
  blind(w.ns, [await watchConn(w)])
  const t0 = Date.now()
  del(w.key)
  assert.equal(await within(w.exited, 4000), 0, w.out.stderr)
  const took = Date.now() - t0
  assert.ok(droppedIn(w.ns) > 0, 'the DELETE event was sent on the blinded watch and dropped')
  assert.match(w.out.stderr, /Lease has been revoked\. Shutting down daemon\./)
  assert.doesNotMatch(w.out.stderr, /lost the watch|stalled/, 'no extra noise: the read found the key gone')
  console.log(`# noticed the deletion behind a blind watch in ${took} ms (check every 1000 ms)`)
})

test('every connection blind (a partition that heals): the check still ends it, after one unary timeout', async () => {
  const w = await writer(['--lease-check-interval=1'])
  const watch = await watchConn(w)
  blind(w.ns, [...etcdConns(w.ns).keys()])
  assert.ok(etcdConns(w.ns).has(watch))
  const t0 = Date.now()
  del(w.key)
  // A read over a blinded kept-alive connection fails after the client's 5 s timeout (nothing
  // logged); the next read goes over a new connection.
  assert.equal(await within(w.exited, 10_000), 0, w.out.stderr)
  assert.match(w.out.stderr, /Lease has been revoked\. Shutting down daemon\./)
  console.log(`# noticed the deletion with every old connection blind in ${Date.now() - t0} ms`)
})

test('a key changed while the watch is blind: one "stalled" line, the watch restarts on a new connection and sees the delete', async () => {
  const w = await writer(['--lease-check-interval=1'])
  const watch = await watchConn(w)
  const pool = [...etcdConns(w.ns).keys()].find((p) => p !== watch)
  blind(w.ns, [watch])
  const value = etcdctl(etcd.endpoint, ['get', w.key, '--print-value-only'], { netns: ens }).stdout.trim()
  assert.equal(etcdctl(etcd.endpoint, ['put', w.key, value], { netns: ens }).code, 0)
  await waitFor(
    'the stalled line',
    () => /the watch on our lease had stalled \(our key is at revision \d+, the watch delivered up to \d+\); restarting it/.test(w.out.stderr),
    5000,
  )
  const fresh = await waitFor('a new watch connection', () => [...etcdConns(w.ns).keys()].find((p) => p !== watch && p !== pool), 5000)
  assert.ok(fresh)
  // Two more checks (every 1 s): the new watch is healthy, no second stalled line.
  await holdsFor('one stalled line, weft-subnet running', () => w.out.stderr.match(/stalled/g)?.length === 1 && w.p.exitCode === null, 2500).catch((e) =>
    assert.fail(`${e.message}\n${w.out.stderr}`),
  )
  del(w.key)
  assert.equal(await within(w.exited, 3000), 0, w.out.stderr)
  assert.match(w.out.stderr, /Lease has been revoked/)
})

test('renewal race: a key deleted before a renewal is not written back; exit 0 revoked', async () => {
  // Check off and watch blind, so only the renewal can notice: ttl 70 s, margin 1 min -> renewal ~10 s in.
  const w = await writer(['--lease-check-interval=0', '--subnet-lease-ttl=70', '--subnet-lease-renew-margin=1'])
  blind(w.ns, [await watchConn(w)])
  del(w.key)
  assert.equal(await within(w.exited, 15_000), 0, w.out.stderr)
  assert.match(w.out.stderr, /Our lease 10\.244\.\d+\.0\/24 \(.*\) is gone or no longer ours at renewal time; not writing it/)
  assert.match(w.out.stderr, /Lease has been revoked\. Shutting down daemon\./)
  assert.doesNotMatch(w.out.stderr, /Renewed lease/)
  assert.equal(exists(w.key), false, 'the key stays deleted')
  const keys = etcdctl(etcd.endpoint, ['get', '--prefix', '--keys-only', `${w.prefix}/subnets/`], { netns: ens }).stdout.trim()
  assert.equal(keys, '', 'no key written back')
})

test('renewal race: the subnet taken by another node (another value) before a renewal is not overwritten; exit 0 revoked', async () => {
  const w = await writer(['--lease-check-interval=0', '--subnet-lease-ttl=70', '--subnet-lease-renew-margin=1'])
  blind(w.ns, [await watchConn(w)])
  const theirs = JSON.stringify({ PublicIP: '10.99.0.99', PublicIPv6: null, BackendType: 'host-gw' })
  assert.equal(etcdctl(etcd.endpoint, ['put', w.key, theirs], { netns: ens }).code, 0)
  assert.equal(await within(w.exited, 15_000), 0, w.out.stderr)
  assert.match(w.out.stderr, /is gone or no longer ours at renewal time; not writing it/)
  assert.doesNotMatch(w.out.stderr, /Renewed lease/)
  assert.equal(etcdctl(etcd.endpoint, ['get', '--print-value-only', w.key], { netns: ens }).stdout.trim(), theirs, 'the other node keeps its lease')
})

test('a healthy watch with the check every second: renewals, no spurious restart, a delete still ends it', async () => {
  // ttl 62 s, margin 1 min: a renewal (a put our own watch must deliver) every ~2 s.
  const w = await writer(['--lease-check-interval=1', '--subnet-lease-ttl=62', '--subnet-lease-renew-margin=1'])
  const quiet = () => w.p.exitCode === null && !/stalled|lost the watch|Error renewing/.test(w.out.stderr)
  await holdsFor('running, no stall, no lost watch, no renewal error', quiet, 6500).catch((e) => assert.fail(`${e.message}\n${w.out.stderr}`))
  // ~3 renewals fit in the window; a loaded machine may bring the second a moment late.
  await waitFor('two renewals', () => (w.out.stderr.match(/Renewed lease/g)?.length ?? 0) >= 2, 4000).catch((e) => assert.fail(`${e.message}\n${w.out.stderr}`))
  assert.ok(quiet(), w.out.stderr)
  assert.ok(exists(w.key))
  del(w.key)
  assert.equal(await within(w.exited, 3000), 0, w.out.stderr)
  assert.match(w.out.stderr, /Lease has been revoked\. Shutting down daemon\./)
})

test('bad --lease-check-interval or --device-check-interval: a clear message, exit 1, nothing leased', async () => {
  const { ns, ip } = nodeNs()
  const prefix = `/weft-lc-${process.pid}-bad/network`
  for (const v of ['-1', '86401']) {
    const r = inNs(ns, [
      'node',
      dist('weft-subnet'),
      `--etcd-endpoints=http://${ETCD}`,
      `--etcd-prefix=${prefix}`,
      `--public-ip=${ip}`,
      '--mtu=1500',
      `--lease-check-interval=${v}`,
    ])
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`--lease-check-interval=${v}: must be from 0 \\(off\\) to 86400 seconds`))
  }
  const r = inNs(ns, ['node', dist('weft-subnet'), '--lease-check-interval=often'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /invalid integer value "often" for --lease-check-interval/)
  // The vxlan device check's interval is validated the same way.
  for (const v of ['0', '3601']) {
    const d = inNs(ns, [
      'node',
      dist('weft-subnet'),
      `--etcd-endpoints=http://${ETCD}`,
      `--etcd-prefix=${prefix}`,
      `--public-ip=${ip}`,
      '--mtu=1500',
      `--device-check-interval=${v}`,
    ])
    assert.equal(d.code, 1, d.stderr)
    assert.match(d.stderr, new RegExp(`--device-check-interval=${v}: must be from 1 to 3600 seconds`))
  }
  assert.equal(etcdctl(etcd.endpoint, ['get', '--prefix', '--keys-only', prefix], { netns: ens }).stdout.trim(), '')
})

// In-process, against an etcd on 127.0.0.1 (reachable from the test process itself).
let local: Etcd | undefined
async function localClient(): Promise<EtcdClient> {
  local ??= await startEtcd(scope)
  return new EtcdClient({ endpoints: [local.endpoint] })
}

test('EtcdClient.putIfPresent: puts only while the key exists (a txn on version > 0)', async () => {
  const c = await localClient()
  try {
    assert.equal(await c.putIfPresent('/pip/k', 'one'), false)
    assert.equal(await c.get('/pip/k'), undefined, 'an absent key is not created')
    await c.put('/pip/k', 'one')
    const id = await c.grant(60)
    assert.equal(await c.putIfPresent('/pip/k', 'two', id), true)
    const kv = await c.get('/pip/k')
    assert.equal(kv?.value, 'two')
    assert.equal(kv?.lease, id)
    // With expect: only while the value is exactly that.
    assert.equal(await c.putIfPresent('/pip/k', 'four', id, 'not-two'), false)
    assert.equal((await c.get('/pip/k'))?.value, 'two')
    assert.equal(await c.putIfPresent('/pip/k', 'two', id, 'two'), true)
    await c.delete('/pip/k')
    assert.equal(await c.putIfPresent('/pip/k', 'three', id), false)
    assert.equal(await c.putIfPresent('/pip/k', 'three', id, 'two'), false)
    assert.equal(await c.get('/pip/k'), undefined)
  } finally {
    c.close()
  }
})

/** Counts the reads of each key: the lease check's reads are what these tests wait on. */
class CountingClient extends EtcdClient {
  readonly reads = new Map<string, number>()
  // Every argument passed on: a read at a past revision (renew.ts historyLost) must not become a
  // read of now, which would make a deleted key look like a wiped cluster.
  override async get(key: string, at?: number) {
    this.reads.set(key, (this.reads.get(key) ?? 0) + 1)
    return super.get(key, at)
  }
}
async function countingClient(): Promise<CountingClient> {
  local ??= await startEtcd(scope)
  return new CountingClient({ endpoints: [local.endpoint] })
}

async function held(c: EtcdClient, key: string) {
  const id = await c.grant(3600)
  await c.put(key, 'v', id)
  return { subnet: parseCidr('10.244.3.0/24'), key, value: 'v', etcdLease: id, expiresAt: Date.now() + 3_600_000, how: 'allocated' as const }
}

test('keepLease with the check running: a stop ends it at once and leaves no timer behind', async () => {
  const c = await countingClient()
  try {
    const base = activeTimers()
    const stop = new AbortController()
    const logs: string[] = []
    const p = keepLease(c, await held(c, '/kl/stop'), { ttl: 3600, marginMs: 60_000, signal: stop.signal, log: (m) => logs.push(m), checkMs: 20 })
    await waitFor('three lease-check reads', () => (c.reads.get('/kl/stop') ?? 0) >= 3, 10_000)
    const t0 = Date.now()
    stop.abort()
    assert.equal(await p, 'stopped')
    assert.ok(Date.now() - t0 < 100, `took ${Date.now() - t0} ms`)
    // A read in flight at the stop keeps its reply timer until it finishes; then none is left.
    await timersBackTo(base)
    assert.deepEqual(logs, [])
  } finally {
    c.close()
  }
})

test('keepLease: our key deleted -> revoked (watch or check, whichever is first), no timer behind', async () => {
  const c = await countingClient()
  try {
    const base = activeTimers()
    const p = keepLease(c, await held(c, '/kl/del'), { ttl: 3600, marginMs: 60_000, signal: new AbortController().signal, log: () => {}, checkMs: 20 })
    await waitFor('two lease-check reads', () => (c.reads.get('/kl/del') ?? 0) >= 2, 10_000)
    await c.delete('/kl/del')
    assert.equal(await p, 'revoked')
    await timersBackTo(base)
  } finally {
    c.close()
  }
})
