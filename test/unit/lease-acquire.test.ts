import { test } from 'node:test'
import assert from 'node:assert/strict'
import { acquireLease, freeSubnets, fitsConfig } from '../../scripts/lib/registry/etcd/lease-acquire.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { parseCidr, parseIp } from '../../scripts/lib/net/cidr.ts'
import { FakeRegistry } from '../helpers/fake-registry.ts'

const P = '/coreos.com/network'
const cfg = parseNetworkConfig('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.4.0","Backend":{"Type":"host-gw"}}')
const val = (ip: string) => `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"host-gw"}`

const attrs = (ip: string) => ({ publicIp: parseIp(ip), backendType: 'host-gw', backendData: null })
const quiet = () => {}

test('freeSubnets: SubnetMin..SubnetMax in SubnetLen steps, skipping taken ones, at most the limit', () => {
  assert.deepEqual(
    freeSubnets(cfg, [parseCidr('10.5.2.0/24')]).map((c) => c.text),
    ['10.5.1.0/24', '10.5.3.0/24', '10.5.4.0/24'],
  )
  const big = parseNetworkConfig('{"Network":"10.0.0.0/8"}')
  const bag = freeSubnets(big, [])
  assert.equal(bag.length, 100)
  assert.equal(bag[0].text, '10.0.1.0/24')
  assert.equal(bag[99].text, '10.0.100.0/24')
  // A taken /23 (a foreign lease of another size) blocks both /24s it covers.
  assert.deepEqual(
    freeSubnets(cfg, [parseCidr('10.5.0.0/23')]).map((c) => c.text),
    ['10.5.2.0/24', '10.5.3.0/24', '10.5.4.0/24'],
  )
})

test('fitsConfig: length and range', () => {
  assert.equal(fitsConfig(cfg, parseCidr('10.5.4.0/24')), true)
  assert.equal(fitsConfig(cfg, parseCidr('10.5.5.0/24')), false)
  assert.equal(fitsConfig(cfg, parseCidr('10.5.2.0/25')), false)
})

test('allocates a random free subnet with grant + compare-and-set create', async () => {
  const r = new FakeRegistry()
  r.kv.set(`${P}/subnets/10.5.1.0-24`, { value: val('192.168.0.9'), lease: '1' })
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), log: quiet, random: () => 0.99 })
  assert.equal(a.subnet.text, '10.5.4.0/24')
  assert.equal(a.how, 'allocated')
  assert.deepEqual(r.ops, ['grant 100', `txn ${P}/subnets/10.5.4.0-24`])
  assert.equal(r.kv.get(`${P}/subnets/10.5.4.0-24`)?.value, val('192.168.0.1'))
  assert.equal(r.kv.get(`${P}/subnets/10.5.4.0-24`)?.lease, '100')
})

test('a lost race: the grant is revoked and another subnet is taken (flannel would exit)', async () => {
  const r = new FakeRegistry()
  let stolen = 0
  r.steal = () => (stolen++ === 0 ? { value: val('192.168.0.7') } : undefined)
  const logs: string[] = []
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), log: (m) => logs.push(m), random: () => 0 })
  assert.equal(a.subnet.text, '10.5.2.0/24')
  assert.deepEqual(r.ops, ['grant 100', `txn ${P}/subnets/10.5.1.0-24`, 'revoke 100', 'grant 101', `txn ${P}/subnets/10.5.2.0-24`])
  assert.ok(logs.some((l) => /10\.5\.1\.0\/24 was taken by another node meanwhile; trying another/.test(l)))
})

test('reuses our lease by PublicIP: new grant, put, old etcd lease revoked', async () => {
  const r = new FakeRegistry()
  r.kv.set(`${P}/subnets/10.5.3.0-24`, { value: val('192.168.0.1'), lease: '55' })
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), previous: parseCidr('10.5.1.0/24'), log: quiet })
  assert.equal(a.subnet.text, '10.5.3.0/24')
  assert.equal(a.how, 'reused')
  assert.deepEqual(r.ops, ['grant 100', `put ${P}/subnets/10.5.3.0-24 100`, 'revoke 55'])
})

test('our lease that no longer fits the config is deleted, then a new one allocated', async () => {
  const r = new FakeRegistry()
  r.kv.set(`${P}/subnets/10.5.9.0-24`, { value: val('192.168.0.1'), lease: '55' })
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), log: quiet, random: () => 0 })
  assert.equal(a.subnet.text, '10.5.1.0/24')
  assert.equal(r.ops[0], `del ${P}/subnets/10.5.9.0-24`)
})

test('the previous subnet (subnet.env) is used when free and fitting', async () => {
  const r = new FakeRegistry()
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), previous: parseCidr('10.5.3.0/24'), log: quiet, random: () => 0 })
  assert.equal(a.subnet.text, '10.5.3.0/24')
  assert.equal(a.how, 'previous')
})

test('a previous subnet outside the config is ignored', async () => {
  const r = new FakeRegistry()
  const logs: string[] = []
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), previous: parseCidr('10.6.3.0/24'), log: (m) => logs.push(m), random: () => 0 })
  assert.equal(a.subnet.text, '10.5.1.0/24')
  assert.ok(logs.some((l) => /not compatible with the Etcd network config/.test(l)))
})

test('keys with unreadable values still count as taken', async () => {
  const r = new FakeRegistry()
  for (const s of ['10.5.1.0', '10.5.2.0', '10.5.3.0']) r.kv.set(`${P}/subnets/${s}-24`, { value: 'garbage', lease: '1' })
  const logs: string[] = []
  const a = await acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), log: (m) => logs.push(m), random: () => 0 })
  assert.equal(a.subnet.text, '10.5.4.0/24')
  assert.equal(logs.filter((l) => /skipping unreadable lease/.test(l)).length, 3)
})

test('out of subnets', async () => {
  const r = new FakeRegistry()
  for (const s of ['10.5.1.0', '10.5.2.0', '10.5.3.0', '10.5.4.0']) r.kv.set(`${P}/subnets/${s}-24`, { value: val('192.168.0.9'), lease: '1' })
  await assert.rejects(acquireLease(r, { prefix: P, cfg, attrs: attrs('192.168.0.1'), log: quiet }), /out of subnets/)
})
