// Dual stack (EnableIPv6) on the etcd registry: flannel's key and value, acquisition picking both
// families, the v6 previous subnet, v6 peer problems.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { acquireLease, freeSubnets, fitsConfig6 } from '../../scripts/lib/registry/etcd/lease-acquire.ts'
import { leaseKey, leaseValue, parseLease, peerProblem } from '../../scripts/lib/formats/lease.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { previousSubnet } from '../../scripts/lib/formats/subnet-env.ts'
import { parseCidr, parseIp } from '../../scripts/lib/net/cidr.ts'
import { FakeRegistry } from '../helpers/fake-registry.ts'

const P = '/coreos.com/network'
const cfg = parseNetworkConfig(
  '{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.3.0","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"fc00:0:0:1::","IPv6SubnetMax":"fc00:0:0:3::","Backend":{"Type":"host-gw"}}',
)
const val6 = (ip: string, ip6: string) => `{"PublicIP":"${ip}","PublicIPv6":"${ip6}","BackendType":"host-gw"}`
const attrs = (ip: string, ip6?: string) => ({ publicIp: parseIp(ip), publicIpv6: ip6 ? parseIp(ip6) : undefined, backendType: 'host-gw', backendData: null })
const quiet = () => {}

test('IPv6 config defaults: /64 subnets, the first one skipped', () => {
  const c = parseNetworkConfig('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}')
  assert.equal(c.ipv6SubnetLen, 64)
  assert.equal(c.ipv6SubnetMin?.text, 'fd44:0:0:1::/64')
  assert.equal(c.ipv6SubnetMax?.text, 'fd44:0:0:ff::/64')
})

test('dual-stack lease key and value: flannel exact bytes (BackendV6Data omitted)', () => {
  assert.equal(leaseKey(P, parseCidr('10.5.52.0/24'), parseCidr('fc00::/64')), `${P}/subnets/10.5.52.0-24&fc00::-64`)
  assert.equal(leaseValue(attrs('192.168.50.11', 'fd77::11')), '{"PublicIP":"192.168.50.11","PublicIPv6":"fd77::11","BackendType":"host-gw"}')
})

test('freeSubnets for IPv6 and fitsConfig6', () => {
  assert.deepEqual(
    freeSubnets(cfg, [parseCidr('fc00:0:0:2::/64'), parseCidr('10.5.1.0/24')], 100, 6).map((c) => c.text),
    ['fc00:0:0:1::/64', 'fc00:0:0:3::/64'],
  )
  assert.equal(fitsConfig6(cfg, parseCidr('fc00:0:0:3::/64')), true)
  assert.equal(fitsConfig6(cfg, parseCidr('fc00:0:0:4::/64')), false)
  assert.equal(fitsConfig6(cfg, parseCidr('fc00:0:0:2::/65')), false)
})

test('dual stack: both subnets picked independently among free ones, one key', async () => {
  const r = new FakeRegistry()
  r.kv.set(`${P}/subnets/10.5.1.0-24&fc00:0:0:3::-64`, { value: val6('192.168.0.9', 'fd77::9'), lease: '1' })
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1', 'fd77::1'), log: quiet, random: () => 0 })
  assert.equal(a.subnet.text, '10.5.2.0/24')
  assert.equal(a.ipv6Subnet?.text, 'fc00:0:0:1::/64')
  assert.deepEqual(r.ops, ['grant 100', `txn ${P}/subnets/10.5.2.0-24&fc00:0:0:1::-64`])
  assert.equal(r.kv.get(a.key)?.value, val6('192.168.0.1', 'fd77::1'))
})

test('dual stack: our lease reused by PublicIP keeps both subnets', async () => {
  const r = new FakeRegistry()
  const k = `${P}/subnets/10.5.3.0-24&fc00:0:0:2::-64`
  r.kv.set(k, { value: val6('192.168.0.1', 'fd77::1'), lease: '55' })
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1', 'fd77::1'), log: quiet })
  assert.equal(a.how, 'reused')
  assert.equal(a.ipv6Subnet?.text, 'fc00:0:0:2::/64')
  assert.deepEqual(r.ops, ['grant 100', `put ${k} 100`, 'revoke 55'])
})

test('dual stack: a v4-only lease of ours is not reused (deleted, a dual-stack one allocated)', async () => {
  const r = new FakeRegistry()
  r.kv.set(`${P}/subnets/10.5.3.0-24`, { value: '{"PublicIP":"192.168.0.1","PublicIPv6":null,"BackendType":"host-gw"}', lease: '55' })
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1', 'fd77::1'), previous: parseCidr('10.5.3.0/24'), log: quiet, random: () => 0 })
  assert.equal(r.ops[0], `del ${P}/subnets/10.5.3.0-24`)
  assert.equal(a.key, `${P}/subnets/10.5.3.0-24&fc00:0:0:1::-64`)
})

test('dual stack: both previous subnets (subnet.env) reused when free; a taken v6 one is replaced', async () => {
  const r = new FakeRegistry()
  const a = await acquireLease(r, {
    prefix: P,
    cfg,
    attrs: attrs('192.168.0.1', 'fd77::1'),
    previous: parseCidr('10.5.2.0/24'),
    previousV6: parseCidr('fc00:0:0:3::/64'),
    log: quiet,
    random: () => 0,
  })
  assert.equal(a.key, `${P}/subnets/10.5.2.0-24&fc00:0:0:3::-64`)
  const r2 = new FakeRegistry()
  r2.kv.set(`${P}/subnets/10.5.1.0-24&fc00:0:0:3::-64`, { value: val6('192.168.0.9', 'fd77::9'), lease: '1' })
  const logs: string[] = []
  const b = await acquireLease(r2, {
    prefix: P,
    cfg,
    attrs: attrs('192.168.0.1', 'fd77::1'),
    previous: parseCidr('10.5.2.0/24'),
    previousV6: parseCidr('fc00:0:0:3::/64'),
    log: (m) => logs.push(m),
    random: () => 0,
  })
  assert.equal(b.key, `${P}/subnets/10.5.2.0-24&fc00:0:0:1::-64`)
  assert.ok(logs.some((l) => /previously leased IPv6 subnet \(fc00:0:0:3::\/64\) that is already leased/.test(l)))
})

test('dual stack: out of IPv6 subnets', async () => {
  const r = new FakeRegistry()
  for (const [i, s] of ['1', '2', '3'].entries()) r.kv.set(`${P}/subnets/10.5.${i + 1}.0-24&fc00:0:0:${s}::-64`, { value: val6(`192.168.0.${9 + i}`, 'fd77::9'), lease: '1' })
  const c = parseNetworkConfig(
    '{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetMin":"fc00:0:0:1::","IPv6SubnetMax":"fc00:0:0:3::","Backend":{"Type":"host-gw"}}',
  )
  await assert.rejects(
    acquireLease(r, { prefix: P, cfg: c, attrs: attrs('192.168.0.1', 'fd77::1'), log: quiet }),
    /out of subnets: every IPv6 subnet from fc00:0:0:1::\/64 to fc00:0:0:3::\/64/,
  )
})

test('previousSubnet reads FLANNEL_IPV6_SUBNET for family 6', () => {
  const d = mkdtempSync(join(tmpdir(), 'weft-v6-'))
  try {
    const f = join(d, 'subnet.env')
    writeFileSync(
      f,
      'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.2.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:3::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n',
    )
    assert.equal(previousSubnet(f)?.text, '10.5.2.0/24')
    assert.equal(previousSubnet(f, 6)?.text, 'fc00:0:0:3::/64')
    writeFileSync(f, 'FLANNEL_SUBNET=10.5.2.1/24\n')
    assert.equal(previousSubnet(f, 6), undefined)
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

const own6 = parseCidr('fc00:0:0:1::/64')
const peer = (k6: string, ip6: string | null) =>
  parseLease(P, { key: `${P}/subnets/10.5.2.0-24&${k6}`, value: JSON.stringify({ PublicIP: '192.168.0.2', PublicIPv6: ip6, BackendType: 'host-gw' }) })
for (const [name, k6, ip6, re] of [
  ['v6 subnet outside IPv6Network', 'fd00::-64', 'fd77::2', /IPv6 subnet fd00::\/64 is outside the IPv6 network fc00::\/48/],
  ['v6 subnet with the wrong prefix', 'fc00:0:0:2::-80', 'fd77::2', /has prefix \/80, the network uses \/64/],
  ['v6 subnet equal to ours', 'fc00:0:0:1::-64', 'fd77::2', /subnet fc00:0:0:1::\/64 is our own/],
  ['no PublicIPv6', 'fc00:0:0:2::-64', null, /has no PublicIPv6/],
  ['PublicIPv6 multicast', 'fc00:0:0:2::-64', 'ff02::1', /PublicIPv6 ff02::1 is a multicast address/],
  ['PublicIPv6 loopback', 'fc00:0:0:2::-64', '::1', /is a loopback address/],
  ['PublicIPv6 link-local', 'fc00:0:0:2::-64', 'fe80::1', /is link-local/],
] as const) {
  test(`ignored v6 peer: ${name}`, () => assert.match(peerProblem(peer(k6, ip6), cfg, parseCidr('10.5.1.0/24'), own6) ?? '', re))
}

test('v6 peer: a PublicIPv6 that is not a plain address is refused at parse', () => {
  assert.throws(() => peer('fc00:0:0:2::-64', 'fd77::2; touch /tmp/x'), /PublicIPv6 .* is not a plain IPv6 address/)
  assert.throws(() => peer('fc00:0:0:2::-64', '192.168.0.2'), /not a plain IPv6 address/)
})

test('v6 peer: a good one has no problem', () => {
  assert.equal(peerProblem(peer('fc00:0:0:2::-64', 'fd77::2'), cfg, parseCidr('10.5.1.0/24'), own6), undefined)
})
