import { test } from 'node:test'
import assert from 'node:assert/strict'
import { leaseKey, leaseValue, parseLease, peerProblem, parseLeaseKey } from '../../scripts/lib/formats/lease.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { parseCidr, parseIp } from '../../scripts/lib/net/cidr.ts'

const P = '/coreos.com/network'
const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
const own = parseCidr('10.244.1.0/24')
const kv = (subnetKey: string, value: object | string) => ({
  key: `${P}/subnets/${subnetKey}`,
  value: typeof value === 'string' ? value : JSON.stringify(value),
  lease: '7587870000000000001',
})
const good = { PublicIP: '192.168.1.12', PublicIPv6: null, BackendType: 'host-gw' }

test('leaseKey: flannel layout, trailing slash in the prefix ignored, dual stack with &', () => {
  assert.equal(leaseKey(P, parseCidr('10.5.52.0/24')), '/coreos.com/network/subnets/10.5.52.0-24')
  assert.equal(leaseKey(P + '/', parseCidr('10.5.52.0/24')), '/coreos.com/network/subnets/10.5.52.0-24')
  assert.equal(leaseKey(P, parseCidr('10.5.52.0/24'), parseCidr('fc00::/64')), '/coreos.com/network/subnets/10.5.52.0-24&fc00::-64')
})

test('leaseValue: flannel exact JSON (host-gw has no BackendData; vxlan has)', () => {
  assert.equal(
    leaseValue({ publicIp: parseIp('192.168.64.3'), backendType: 'host-gw', backendData: null }),
    '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"host-gw"}',
  )
  assert.equal(
    leaseValue({ publicIp: parseIp('192.168.64.3'), backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' } }),
    '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
  )
  assert.equal(
    leaseValue({ publicIp: parseIp('192.168.64.3'), publicIpv6: parseIp('fc00:0::1'), backendType: 'host-gw', backendData: null }),
    '{"PublicIP":"192.168.64.3","PublicIPv6":"fc00::1","BackendType":"host-gw"}',
  )
})

test('parseLease: a good lease round-trips', () => {
  const l = parseLease(P, kv('10.244.2.0-24', good))
  assert.equal(l.subnet.text, '10.244.2.0/24')
  assert.equal(l.publicIp.text, '192.168.1.12')
  assert.equal(l.backendType, 'host-gw')
  assert.equal(l.backendData, null)
  assert.equal(l.etcdLease, '7587870000000000001')
  assert.equal(peerProblem(l, cfg, own), undefined)
  const v = parseLease(P, kv('10.244.3.0-24', { PublicIP: '192.168.1.13', BackendType: 'vxlan', BackendData: { VNI: 1 } }))
  assert.deepEqual(v.backendData, { VNI: 1 })
})

test('parseLease: a dual-stack key', () => {
  const l = parseLease(P, kv('10.244.2.0-24&fc00::-64', { ...good, PublicIPv6: 'fc00::12' }))
  assert.equal(l.ipv6Subnet?.text, 'fc00::/64')
  assert.equal(l.publicIpv6?.text, 'fc00::12')
})

const badParse: [string, ReturnType<typeof kv>, RegExp][] = [
  ['PublicIP with a shell command', kv('10.244.2.0-24', { ...good, PublicIP: '1.2.3.4; touch /tmp/pwned' }), /PublicIP "1.2.3.4; touch \/tmp\/pwned" is not a plain IPv4 address/],
  ['PublicIP ::1', kv('10.244.2.0-24', { ...good, PublicIP: '::1' }), /PublicIP "::1" is not a plain IPv4 address/],
  ['PublicIP empty', kv('10.244.2.0-24', { ...good, PublicIP: '' }), /PublicIP "" is not an IPv4 address/],
  ['PublicIP missing', kv('10.244.2.0-24', { BackendType: 'host-gw' }), /PublicIP null is not an IPv4 address/],
  ['PublicIP a number', kv('10.244.2.0-24', { ...good, PublicIP: 1 }), /PublicIP 1 is not an IPv4 address/],
  ['BackendData a string', kv('10.244.2.0-24', { ...good, BackendData: 'x' }), /BackendData "x" is not an object/],
  ['BackendData an array', kv('10.244.2.0-24', { ...good, BackendData: [1] }), /BackendData \[1\] is not an object/],
  ['BackendType with shell words', kv('10.244.2.0-24', { ...good, BackendType: 'host-gw; id' }), /BackendType .* is not a backend name/],
  ['value not JSON', kv('10.244.2.0-24', '{"PublicIP":'), /value is not JSON/],
  ['value not an object', kv('10.244.2.0-24', '"x"'), /value is not a JSON object/],
  ['key without a subnet', kv('hello', good), /does not name a subnet/],
  ['key with trailing junk', kv('10.244.2.0-24x', good), /does not name a subnet/],
  ['key with host bits', kv('10.244.2.7-24', good), /host bits set/],
  ['key with a bad address', kv('10.244.300.0-24', good), /invalid CIDR|does not name/],
  ['key with a bad prefix', kv('10.244.2.0-33', good), /invalid CIDR/],
  ['key under another prefix', { key: '/other/subnets/10.244.2.0-24', value: JSON.stringify(good), lease: '0' }, /is not under/],
]
for (const [name, entry, re] of badParse) {
  test(`bad lease: ${name}`, () => assert.throws(() => parseLease(P, entry), re))
}

test('BackendData null is allowed', () => {
  assert.equal(parseLease(P, kv('10.244.2.0-24', { ...good, BackendData: null })).backendData, null)
})

const badPeer: [string, ReturnType<typeof kv>, RegExp][] = [
  ['subnet 0.0.0.0/0', kv('0.0.0.0-0', good), /0.0.0.0\/0 would cover every address/],
  ['subnet outside the network', kv('10.99.2.0-24', good), /10.99.2.0\/24 is outside the network 10.244.0.0\/16/],
  ['wrong prefix length', kv('10.244.2.0-25', good), /has prefix \/25, the network uses \/24/],
  ['the whole network', kv('10.244.0.0-16', good), /has prefix \/16/],
  ['equal to ours', kv('10.244.1.0-24', good), /10.244.1.0\/24 is our own/],
  ['PublicIP 0.0.0.0', kv('10.244.2.0-24', { ...good, PublicIP: '0.0.0.0' }), /PublicIP 0.0.0.0 is unspecified/],
  ['PublicIP loopback', kv('10.244.2.0-24', { ...good, PublicIP: '127.0.0.1' }), /loopback/],
  ['PublicIP multicast', kv('10.244.2.0-24', { ...good, PublicIP: '224.0.0.1' }), /multicast/],
]
for (const [name, entry, re] of badPeer) {
  test(`ignored peer: ${name}`, () => {
    const p = peerProblem(parseLease(P, entry), cfg, own)
    assert.ok(p, 'expected a problem')
    assert.match(p, re)
  })
}

test('ignored peer: overlapping ours (a /23 config with a /24 own)', () => {
  const c23 = parseNetworkConfig('{"Network":"10.244.0.0/16","SubnetLen":23,"Backend":{"Type":"host-gw"}}')
  const p = peerProblem(parseLease(P, kv('10.244.0.0-23', good)), c23, parseCidr('10.244.1.0/24'))
  assert.match(p ?? '', /overlaps our own 10.244.1.0\/24/)
})

test('ignored peer: wrong family (own is IPv6, lease has no IPv6 subnet)', () => {
  const p = peerProblem(parseLease(P, kv('10.244.2.0-24', good)), cfg, parseCidr('fc00::/64'))
  assert.match(p ?? '', /no IPv6 subnet/)
})

test('without own subnet every in-range lease is usable', () => {
  assert.equal(peerProblem(parseLease(P, kv('10.244.1.0-24', good)), cfg), undefined)
})

test('parseLeaseKey gives the subnet even when the value is bad', () => {
  assert.equal(parseLeaseKey(P, `${P}/subnets/10.244.9.0-24`).subnet.text, '10.244.9.0/24')
})
