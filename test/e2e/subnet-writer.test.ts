// dist/weft-subnet as a black box against a real etcd on 127.0.0.1: subnet.env bytes, the JSON
// line, the lease in etcd, restarts, races, etcd down at start, revocation, renewal, --dry-run.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { Scope, waitFor, dist, must, inNs } from '../helpers/scope.ts'
import { holdsFor, within } from '../helpers/wait.ts'
import { startEtcd, etcdctl, etcdWatchers, type Etcd } from '../helpers/etcd.ts'

const scope = new Scope()
let etcd: Etcd
before(async () => {
  etcd = await startEtcd(scope)
})
after(async () => {
  await scope.close()
})

let n = 0
/** A fresh prefix per test, with the config put in it. */
function prefix(config?: string): string {
  const p = `/weft-test-${process.pid}-${n++}/network`
  if (config) assert.equal(etcdctl(etcd.endpoint, ['put', `${p}/config`, config]).code, 0)
  return p
}
const HOSTGW = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'

interface Writer {
  p: ChildProcess
  out: { stdout: string; stderr: string }
  exited: Promise<number | null>
}
function writer(args: string[], opts: { netns?: string; endpoint?: string } = {}): Writer {
  const argv = ['node', dist('weft-subnet'), `--etcd-endpoints=${opts.endpoint ?? etcd.endpoint}`, ...args]
  const p = scope.spawn(argv, { netns: opts.netns })
  const out = { stdout: '', stderr: '' }
  p.stdout!.on('data', (d) => (out.stdout += d))
  p.stderr!.on('data', (d) => (out.stderr += d))
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)))
  return { p, out, exited }
}
async function written(w: Writer): Promise<Record<string, unknown>> {
  const line = await waitFor('the subnet-written line', () => w.out.stdout.split('\n').find((l) => l.includes('"subnet-written"')), 15000)
  return JSON.parse(line)
}
function leases(p: string): Record<string, string> {
  const r = etcdctl(etcd.endpoint, ['get', '--prefix', `${p}/subnets/`])
  const lines = r.stdout.split('\n').filter(Boolean)
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]] = lines[i + 1]
  return out
}
// Lease ids are int64: read them from the JSON text, not through JSON.parse (which rounds them).
function leaseId(p: string, key: string): string {
  void p
  const m = /"lease":(\d+)/.exec(etcdctl(etcd.endpoint, ['get', key, '-w', 'json']).stdout)
  assert.ok(m, `no lease on ${key}`)
  return m[1]
}
function ttlOf(id: string): number {
  const r = etcdctl(etcd.endpoint, ['lease', 'timetolive', BigInt(id).toString(16), '-w', 'json'])
  return JSON.parse(r.stdout).ttl
}

test("writes flannel's exact subnet.env, prints the JSON line, holds a lease with TTL 86400", async () => {
  const p = prefix(HOSTGW)
  const file = join(scope.tmp(), 'run/flannel/subnet.env')
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.11', '--mtu=1500', `--subnet-file=${file}`, '--ip-masq'])
  const ev = await written(w)
  const subnet = String(ev.subnet)
  assert.match(subnet, /^10\.244\.\d+\.0\/24$/)
  assert.deepEqual(ev, { event: 'subnet-written', file, network: '10.244.0.0/16', subnet, backend: 'host-gw', mtu: 1500, publicIp: '192.168.50.11' })
  const third = subnet.split('.')[2]
  assert.notEqual(third, '0', 'the first subnet is never leased')
  assert.equal(readFileSync(file, 'utf8'), `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${third}.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n`)
  assert.equal(statSync(file).mode & 0o777, 0o644)
  assert.equal(statSync(join(file, '..')).mode & 0o777, 0o755)
  const key = `${p}/subnets/10.244.${third}.0-24`
  assert.deepEqual(leases(p), { [key]: '{"PublicIP":"192.168.50.11","PublicIPv6":null,"BackendType":"host-gw"}' })
  const ttl = ttlOf(leaseId(p, key))
  assert.ok(ttl > 86300 && ttl <= 86400, `ttl ${ttl}`)
  assert.equal(w.p.exitCode, null, 'it stays running to renew')
  w.p.kill('SIGTERM')
  assert.equal(await w.exited, 0)
  assert.ok(existsSync(file), 'subnet.env stays')
  assert.ok(leases(p)[key], 'the lease stays')
})

test('vxlan: FLANNEL_MTU is the interface MTU - 50, or Backend.MTU - 50', async () => {
  for (const [cfg, mtu] of [
    ['{"Network":"10.9.0.0/16","Backend":{"Type":"vxlan"}}', 1450],
    ['{"Network":"10.9.0.0/16","Backend":{"Type":"vxlan","MTU":1400}}', 1350],
  ] as const) {
    const p = prefix(cfg)
    const file = join(scope.tmp(), 'subnet.env')
    const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.12', '--mtu=1500', `--subnet-file=${file}`, '--once'])
    assert.equal(await w.exited, 0, w.out.stderr)
    assert.match(readFileSync(file, 'utf8'), new RegExp(`\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=false\n$`))
  }
})

test('a restart keeps the subnet: by PublicIP, and by subnet.env after the key was deleted', async () => {
  const p = prefix(HOSTGW)
  const file = join(scope.tmp(), 'subnet.env')
  const args = [`--etcd-prefix=${p}`, '--public-ip=192.168.50.13', '--mtu=1500', `--subnet-file=${file}`]
  const w1 = writer(args)
  const first = (await written(w1)).subnet
  w1.p.kill('SIGTERM')
  assert.equal(await w1.exited, 0)
  const oldId = leaseId(p, Object.keys(leases(p))[0])

  const w2 = writer([...args, '--once'])
  assert.equal(await w2.exited, 0, w2.out.stderr)
  assert.equal((await written(w2)).subnet, first)
  assert.match(w2.out.stderr, /Found lease \(ip: 10\.244\.\d+\.0\/24\) for current IP \(192\.168\.50\.13\), reusing/)
  assert.equal(Object.keys(leases(p)).length, 1)
  assert.notEqual(leaseId(p, Object.keys(leases(p))[0]), oldId, 'renewed with a new etcd lease')
  assert.equal(ttlOf(oldId), -1, 'the old etcd lease is revoked')

  assert.equal(etcdctl(etcd.endpoint, ['del', '--prefix', `${p}/subnets/`]).code, 0)
  const w3 = writer([...args, '--once'])
  assert.equal(await w3.exited, 0, w3.out.stderr)
  assert.equal((await written(w3)).subnet, first)
  assert.match(w3.out.stderr, /Found previously leased subnet \(10\.244\.\d+\.0\/24\), reusing/)
})

test('the subnet in subnet.env is not reused when another node holds it', async () => {
  const p = prefix(HOSTGW)
  const file = join(scope.tmp(), 'subnet.env')
  writeFileSync(file, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
  etcdctl(etcd.endpoint, ['put', `${p}/subnets/10.244.7.0-24`, '{"PublicIP":"192.168.50.99","PublicIPv6":null,"BackendType":"host-gw"}'])
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.14', '--mtu=1500', `--subnet-file=${file}`, '--once'])
  assert.equal(await w.exited, 0, w.out.stderr)
  assert.notEqual((await written(w)).subnet, '10.244.7.0/24')
  assert.match(w.out.stderr, /already leased by another host, ignoring/)
})

test('two writers started at once on a network with exactly two free subnets both get one', async () => {
  for (let round = 0; round < 4; round++) {
    const p = prefix('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.2.0","Backend":{"Type":"host-gw"}}')
    const ws = [1, 2].map((i) => writer([`--etcd-prefix=${p}`, `--public-ip=192.168.60.${i}`, '--mtu=1500', `--subnet-file=${join(scope.tmp(), 'subnet.env')}`, '--once']))
    const codes = await Promise.all(ws.map((w) => w.exited))
    assert.deepEqual(codes, [0, 0], ws.map((w) => w.out.stderr).join('\n'))
    const got = await Promise.all(ws.map(async (w) => (await written(w)).subnet))
    assert.deepEqual([...got].sort(), ['10.5.1.0/24', '10.5.2.0/24'])
    assert.deepEqual(Object.keys(leases(p)).sort(), [`${p}/subnets/10.5.1.0-24`, `${p}/subnets/10.5.2.0-24`])
  }
})

test('a third writer on a full network fails with "out of subnets"', async () => {
  const p = prefix('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.1.0","Backend":{"Type":"host-gw"}}')
  etcdctl(etcd.endpoint, ['put', `${p}/subnets/10.5.1.0-24`, '{"PublicIP":"192.168.60.9","PublicIPv6":null,"BackendType":"host-gw"}'])
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.60.3', '--mtu=1500', `--subnet-file=${join(scope.tmp(), 'subnet.env')}`, '--once'])
  assert.equal(await w.exited, 1)
  assert.match(w.out.stderr, /out of subnets/)
})

test('a deleted own key ends the writer with exit 0 ("Lease has been revoked")', async () => {
  const p = prefix(HOSTGW)
  const watchers = await etcdWatchers(etcd.endpoint)
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.15', '--mtu=1500', `--subnet-file=${join(scope.tmp(), 'subnet.env')}`])
  await written(w)
  // The delete must reach the writer through its watch (not its first read of the key).
  await waitFor("the writer's watch registered in etcd", async () => (await etcdWatchers(etcd.endpoint)) > watchers, 10000)
  assert.equal(etcdctl(etcd.endpoint, ['del', '--prefix', `${p}/subnets/`]).code, 0)
  assert.equal(await within(w.exited, 5000), 0)
  assert.match(w.out.stderr, /Lease has been revoked\. Shutting down daemon\./)
})

test('renews before expiry with a new etcd lease (short TTL for the test)', async () => {
  const p = prefix(HOSTGW)
  const w = writer([
    `--etcd-prefix=${p}`,
    '--public-ip=192.168.50.16',
    '--mtu=1500',
    `--subnet-file=${join(scope.tmp(), 'subnet.env')}`,
    '--subnet-lease-ttl=62',
    '--subnet-lease-renew-margin=1',
  ])
  await written(w)
  const key = Object.keys(leases(p))[0]
  const first = leaseId(p, key)
  // the new lease is visible in etcd a moment before the writer logs it (it revokes the old one first)
  await waitFor('a renewal, logged', () => leaseId(p, key) !== first && /Renewed lease/.test(w.out.stderr), 8000, 200)
  assert.match(w.out.stderr, /Renewed lease 10\.244\.\d+\.0\/24/)
  // Read id and TTL together until they agree: a renewal every ~2 s may revoke the lease just read
  // (its TTL then reads -1).
  await waitFor('the current lease to have a fresh TTL (> 55 s)', () => ttlOf(leaseId(p, key)) > 55, 5000, 100)
  assert.equal(w.p.exitCode, null)
  // Stopped here: renewing every ~2 s, it would move etcd's revision under the next test's check.
  w.p.kill('SIGTERM')
  assert.equal(await w.exited, 0)
})

test('--dry-run prints the etcd operations and subnet.env, writes nothing and puts nothing', async () => {
  const p = prefix(HOSTGW)
  const file = join(scope.tmp(), 'subnet.env')
  // Our prefix's keys with their revisions: other tests' writers (renewals) share this etcd, so
  // the cluster-wide revision is not ours to watch.
  const rev = () => etcdctl(etcd.endpoint, ['get', '--prefix', p, '-w', 'json']).stdout.replace(/"header":\{[^}]*\},?/, '')
  const before = rev()
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.17', '--mtu=1500', `--subnet-file=${file}`, '--dry-run'])
  assert.equal(await w.exited, 0, w.out.stderr)
  assert.equal(rev(), before, 'no etcd write')
  assert.equal(existsSync(file), false)
  assert.match(w.out.stdout, /^etcdctl lease grant 86400 {3}# -> <new-lease>\n/)
  assert.match(
    w.out.stdout,
    /etcdctl txn <<'EOF'\nversion\(".*\/subnets\/10\.244\.\d+\.0-24"\) = "0"\n\nput --lease=<new-lease> ".*\/subnets\/10\.244\.\d+\.0-24" "\{\\"PublicIP\\":\\"192\.168\.50\.17\\",\\"PublicIPv6\\":null,\\"BackendType\\":\\"host-gw\\"\}"\n\nEOF\n/,
  )
  assert.match(
    w.out.stdout,
    new RegExp(`cat > ${file} <<'EOF'\nFLANNEL_NETWORK=10\\.244\\.0\\.0/16\nFLANNEL_SUBNET=10\\.244\\.\\d+\\.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\nEOF\n$`),
  )
  assert.doesNotMatch(w.out.stdout, /subnet-written/)
})

test('etcd unreachable at start: it says it waits, then proceeds when etcd comes up', async () => {
  const p = prefix(HOSTGW)
  await etcd.stop()
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.18', '--mtu=1500', `--subnet-file=${join(scope.tmp(), 'subnet.env')}`, '--once'])
  try {
    await waitFor('the waiting message', () => /waiting for etcd: etcd unreachable/.test(w.out.stderr), 10000)
    await holdsFor('still waiting', () => w.p.exitCode === null, 1500)
  } finally {
    await etcd.start()
  }
  assert.equal(await w.exited, 0, w.out.stderr)
  assert.match(String((await written(w)).subnet), /^10\.244\./)
})

test("config missing: flannel's message, then proceeds once the config is put", async () => {
  const p = prefix()
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.19', '--mtu=1500', `--subnet-file=${join(scope.tmp(), 'subnet.env')}`, '--once'])
  await waitFor('the not-found message', () => /flannel config not found in etcd store .*Did you create your config using etcdv3 API\?/.test(w.out.stderr), 10000)
  etcdctl(etcd.endpoint, ['put', `${p}/config`, HOSTGW])
  assert.equal(await w.exited, 0, w.out.stderr)
})

test('bad config: a clear message, retried, nothing leased', async () => {
  const p = prefix('{"Network":"10.0.0.0/29","Backend":{"Type":"host-gw"}}')
  const file = join(scope.tmp(), 'subnet.env')
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.20', '--mtu=1500', `--subnet-file=${file}`, '--once'])
  await waitFor('the message', () => /Network is too small\. Minimum useful network prefix is \/28/.test(w.out.stderr), 10000)
  assert.deepEqual(leases(p), {})
  assert.equal(existsSync(file), false)
  w.p.kill('SIGTERM')
  assert.equal(await w.exited, 0)
})

test('bad flags: no --public-ip, a bad --public-ip, a bad margin', async () => {
  const cases: [string[], RegExp][] = [
    [[], /--public-ip is required with etcd/],
    [['--public-ip=1.2.3.4; touch /tmp/pwned'], /--public-ip "1.2.3.4; touch \/tmp\/pwned": not an IPv4 address/],
    [['--public-ip=10.0.0.1', '--subnet-lease-renew-margin=1440'], /must be from 1 to 1439 minutes/],
    [['--network=10.0.0.0/16', '--subnet=10.1.0.0/24', '--mtu=1500'], /--subnet 10.1.0.0\/24 is not a subnet inside --network 10.0.0.0\/16/],
  ]
  for (const [args, re] of cases) {
    const w = writer(args)
    assert.equal(await w.exited, 1, args.join(' '))
    assert.match(w.out.stderr, re)
  }
})

test('--iface: MTU from the interface (in a netns, with an etcd there); a missing interface is a clear error', async () => {
  const ns = scope.ns('sw')
  must(['ip', '-n', ns, 'link', 'add', 'ext0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'ext1'])
  const local = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  const p = `/weft-iface/network`
  assert.equal(etcdctl(local.endpoint, ['put', `${p}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'], { netns: ns }).code, 0)
  const file = join(scope.tmp(), 'subnet.env')
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.21', '--iface=ext0', `--subnet-file=${file}`, '--once'], { netns: ns, endpoint: local.endpoint })
  assert.equal(await w.exited, 0, w.out.stderr)
  assert.equal((await written(w)).mtu, 8950)
  assert.match(readFileSync(file, 'utf8'), /\nFLANNEL_MTU=8950\n/)
  const s = inNs(ns, ['node', dist('weft-subnet'), '--network=10.244.0.0/16', '--subnet=10.244.9.0/24', '--iface=ext0', `--subnet-file=${file}`])
  assert.equal(s.code, 0, s.stderr)
  assert.match(readFileSync(file, 'utf8'), /\nFLANNEL_MTU=9000\n/)
  const bad = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.22', '--iface=nosuch0', `--subnet-file=${file}.2`], { netns: ns, endpoint: local.endpoint })
  assert.equal(await bad.exited, 1)
  assert.match(bad.out.stderr, /--iface nosuch0: no such interface/)
  assert.equal(existsSync(`${file}.2`), false)
  assert.equal(Object.keys(JSON.parse(etcdctl(local.endpoint, ['get', '--prefix', `${p}/subnets/`, '-w', 'json'], { netns: ns }).stdout).kvs ?? []).length, 1)
})

test('etcd stopped while running: the writer stays, resumes watching, and still sees its key deleted', async () => {
  const p = prefix(HOSTGW)
  const w = writer([`--etcd-prefix=${p}`, '--public-ip=192.168.50.23', '--mtu=1500', `--subnet-file=${join(scope.tmp(), 'subnet.env')}`])
  await written(w)
  await etcd.stop()
  try {
    await waitFor('the lost-watch message', () => /lost the watch on our lease \(retrying\)/.test(w.out.stderr), 5000)
    await holdsFor('still running without etcd', () => w.p.exitCode === null, 2000)
  } finally {
    await etcd.start()
  }
  await waitFor('the watch to resume', () => /watching our lease again/.test(w.out.stderr), 10000)
  assert.equal(etcdctl(etcd.endpoint, ['del', '--prefix', `${p}/subnets/`]).code, 0)
  assert.equal(await within(w.exited, 5000), 0)
  assert.match(w.out.stderr, /Lease has been revoked/)
})
