// Dual stack on the etcd registry, the bundles as black boxes: dist/weft-subnet takes a
// dual-stack lease (flannel's key and value) and writes both families into subnet.env; a restart
// keeps both subnets; dist/weft-routes programs, and reconciles, the peers' IPv6 routes. All in
// namespaces: a "node" netns whose veth0 (192.168.50.1/24, fd77::1/64) reaches a "switch" netns
// where etcd runs. The root namespace is never touched.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync, type ChildProcess } from 'node:child_process'
import { Scope, must, waitFor, dist } from '../helpers/scope.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'

const scope = new Scope()
let node = ''
let sw = ''
let etcd: Etcd
let tmp = ''
const DUAL = '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}'

let n = 0
function prefix(config: string): string {
  const p = `/weft-v6-${process.pid}-${n++}/network`
  assert.equal(etcdctl(etcd.endpoint, ['put', `${p}/config`, config], { netns: sw }).code, 0)
  return p
}
function leases(p: string): Record<string, string> {
  const lines = etcdctl(etcd.endpoint, ['get', '--prefix', `${p}/subnets/`], { netns: sw })
    .stdout.split('\n')
    .filter(Boolean)
  const out: Record<string, string> = {}
  for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]] = lines[i + 1]
  return out
}
function writer(p: string, file: string, extra: string[] = ['--public-ipv6=fd77::1']) {
  return spawnSync(
    'ip',
    [
      'netns',
      'exec',
      node,
      process.execPath,
      dist('weft-subnet'),
      `--etcd-endpoints=${etcd.endpoint}`,
      `--etcd-prefix=${p}`,
      '--public-ip=192.168.50.1',
      '--mtu=1500',
      `--subnet-file=${file}`,
      '--once',
      ...extra,
    ],
    { encoding: 'utf8', timeout: 20000 },
  )
}
/** "dst via gw" for every IPv6 gateway route of the node's main table, sorted. */
function routes6(): string[] {
  const j = JSON.parse(must(['ip', '-6', '-n', node, '-j', 'route', 'show', 'table', 'main']).stdout) as { dst: string; gateway?: string }[]
  return j
    .filter((r) => r.gateway)
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort()
}

before(async () => {
  node = scope.ns('v6n')
  sw = scope.ns('v6s')
  must(['ip', '-n', node, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'vsw', 'netns', sw])
  must(['ip', '-n', node, 'addr', 'add', '192.168.50.1/24', 'dev', 'veth0'])
  must(['ip', '-n', node, 'addr', 'add', 'fd77::1/64', 'dev', 'veth0', 'nodad'])
  must(['ip', '-n', sw, 'addr', 'add', '192.168.50.100/24', 'dev', 'vsw'])
  must(['ip', '-n', node, 'link', 'set', 'veth0', 'up'])
  must(['ip', '-n', sw, 'link', 'set', 'vsw', 'up'])
  etcd = await startEtcd(scope, { netns: sw, ip: '192.168.50.100' })
  tmp = scope.tmp('v6')
})
after(async () => {
  await scope.close()
})

test("weft-subnet: a dual-stack lease with flannel's key and value, both families in subnet.env (exact bytes)", () => {
  const p = prefix(DUAL)
  const file = join(tmp, 'a.env')
  const r = writer(p, file)
  assert.equal(r.status, 0, r.stderr)
  const keys = Object.keys(leases(p))
  assert.equal(keys.length, 1)
  const m = new RegExp(`^${p}/subnets/10\\.244\\.(\\d+)\\.0-24&fd44:0:0:([0-9a-f]+)::-64$`).exec(keys[0])
  assert.ok(m, keys[0])
  assert.equal(leases(p)[keys[0]], '{"PublicIP":"192.168.50.1","PublicIPv6":"fd77::1","BackendType":"host-gw"}')
  assert.equal(
    readFileSync(file, 'utf8'),
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${m[1]}.1/24\nFLANNEL_IPV6_NETWORK=fd44::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:${m[2]}::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`,
  )
  const line = JSON.parse(r.stdout.trim().split('\n').pop()!)
  assert.equal(line.ipv6Subnet, `fd44:0:0:${m[2]}::/64`)
  assert.equal(line.publicIpv6, 'fd77::1')
})

test('weft-subnet restart keeps both subnets: by PublicIP, and from subnet.env once the lease is gone', () => {
  const p = prefix(DUAL)
  const file = join(tmp, 'b.env')
  assert.equal(writer(p, file).status, 0)
  const first = readFileSync(file, 'utf8')
  const [key] = Object.keys(leases(p))
  const again = writer(p, file)
  assert.equal(again.status, 0, again.stderr)
  assert.match(again.stderr, /Found lease \(ip: 10\.244\.\d+\.0\/24 ipv6: fd44:0:0:[0-9a-f]+::\/64\) for current IP \(192\.168\.50\.1\), reusing/)
  assert.deepEqual(Object.keys(leases(p)), [key])
  assert.equal(readFileSync(file, 'utf8'), first)
  assert.equal(etcdctl(etcd.endpoint, ['del', key], { netns: sw }).code, 0)
  const prev = writer(p, file)
  assert.equal(prev.status, 0, prev.stderr)
  assert.match(prev.stderr, /Found previously leased IPv6 subnet \(fd44:0:0:[0-9a-f]+::\/64\), reusing/)
  assert.deepEqual(Object.keys(leases(p)), [key])
  assert.equal(readFileSync(file, 'utf8'), first)
})

for (const [name, config, extra, re] of [
  ['EnableIPv6 without --public-ipv6', DUAL, [], /--public-ipv6 is required with EnableIPv6/],
  ['a link-local --public-ipv6', DUAL, ['--public-ipv6=fe80::1'], /--public-ipv6 fe80::1: not a global unicast IPv6 address/],
  ['--public-ipv6 that is not an address', DUAL, ['--public-ipv6=fd77::1;id'], /--public-ipv6 "fd77::1;id": not an IPv6 address/],
  // IPv6-only (EnableIPv4 false) now waits, not ready, like any config weft cannot run (config-unusable.test.ts)
  // udp with EnableIPv6: any udp config now waits, not ready (config-unusable.test.ts)
] as const) {
  test(`weft-subnet refuses ${name}: clear message, no lease, no file`, () => {
    const p = prefix(config)
    const file = join(tmp, `bad-${n}.env`)
    const r = writer(p, file, [...extra])
    assert.equal(r.status, 1)
    assert.match(r.stderr, re)
    assert.deepEqual(leases(p), {})
    assert.throws(() => readFileSync(file))
  })
}

test("weft-routes: peers' IPv6 routes appear, a deleted lease's goes, hand-made ones inside IPv6Network removed, outside kept", async () => {
  const p = prefix(DUAL)
  const file = join(tmp, 'routes.env')
  writeFileSync(
    file,
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd44::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:1::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n',
  )
  const put = (k: string, ip: string, ip6: string) =>
    assert.equal(etcdctl(etcd.endpoint, ['put', `${p}/subnets/${k}`, JSON.stringify({ PublicIP: ip, PublicIPv6: ip6, BackendType: 'host-gw' })], { netns: sw }).code, 0)
  put('10.244.1.0-24&fd44:0:0:1::-64', '192.168.50.1', 'fd77::1')
  put('10.244.2.0-24&fd44:0:0:2::-64', '192.168.50.12', 'fd77::12')
  put('10.244.3.0-24&fd44:0:0:3::-64', '192.168.50.13', 'fd77::13')
  put('10.244.4.0-24&fd99::-64', '192.168.50.14', 'fd77::14')
  must(['ip', '-n', node, 'route', 'add', 'fd44:0:0:9::/64', 'via', 'fd77::99', 'dev', 'veth0'])
  must(['ip', '-n', node, 'route', 'add', 'fd55::/64', 'via', 'fd77::98', 'dev', 'veth0'])
  let log = ''
  const proc: ChildProcess = scope.spawn([dist('weft-routes'), `--etcd-endpoints=${etcd.endpoint}`, `--etcd-prefix=${p}`, '--iface=veth0', `--subnet-file=${file}`, '--resync=1'], {
    netns: node,
  })
  proc.stderr!.on('data', (d) => (log += d))
  try {
    const want = ['fd44:0:0:2::/64 via fd77::12', 'fd44:0:0:3::/64 via fd77::13', 'fd55::/64 via fd77::98']
    await waitFor('the IPv6 routes', () => JSON.stringify(routes6()) === JSON.stringify(want), 10000).catch(() => assert.fail(`routes ${routes6().join(', ')}; log:\n${log}`))
    assert.match(log, /ignoring lease \S+10\.244\.4\.0-24&fd99::-64: IPv6 subnet fd99::\/64 is outside the IPv6 network fd44::\/56/)
    assert.equal(etcdctl(etcd.endpoint, ['del', `${p}/subnets/10.244.3.0-24&fd44:0:0:3::-64`], { netns: sw }).code, 0)
    await waitFor("the deleted lease's route to go", () => !routes6().includes('fd44:0:0:3::/64 via fd77::13'), 5000)
    must(['ip', '-n', node, 'route', 'add', 'fd44:0:0:7::/64', 'via', 'fd77::77', 'dev', 'veth0'])
    await waitFor('the hand-made route inside to go', () => !routes6().includes('fd44:0:0:7::/64 via fd77::77'), 5000)
    assert.deepEqual(routes6(), ['fd44:0:0:2::/64 via fd77::12', 'fd55::/64 via fd77::98'])
  } finally {
    proc.kill('SIGTERM')
    rmSync(file, { force: true })
  }
})
