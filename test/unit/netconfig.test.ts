import { test } from 'node:test'
import type { VxlanBackend } from '../../scripts/lib/formats/backend.ts'
import assert from 'node:assert/strict'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'

test('defaults: /16 network gets /24 subnets, min skips the first subnet, max is the last', () => {
  const c = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
  assert.equal(c.network?.text, '10.244.0.0/16')
  assert.equal(c.subnetLen, 24)
  assert.equal(c.subnetMin?.text, '10.244.1.0/24')
  assert.equal(c.subnetMax?.text, '10.244.255.0/24')
  assert.equal(c.enableIPv4, true)
  assert.equal(c.enableIPv6, false)
  assert.equal(c.enableNFTables, false)
  assert.deepEqual(c.backend, { type: 'host-gw' })
})

test('backend type defaults to udp as the code does (not vxlan as the docs say)', () => {
  assert.equal(parseNetworkConfig('{"Network":"10.1.0.0/16"}').backend.type, 'udp')
})

test('backend type is lower-cased and keys match case-insensitively', () => {
  const c = parseNetworkConfig('{"network":"10.1.0.0/16","subnetlen":26,"backend":{"type":"VXLAN","VNI":4}}')
  assert.equal(c.backend.type, 'vxlan')
  assert.equal((c.backend as VxlanBackend).vni, 4)
  assert.equal(c.subnetLen, 26)
})

test('small networks: /23 gets /25, /28 gets /30', () => {
  assert.equal(parseNetworkConfig('{"Network":"10.0.0.0/23"}').subnetLen, 25)
  const c = parseNetworkConfig('{"Network":"10.0.0.0/28"}')
  assert.equal(c.subnetLen, 30)
  assert.equal(c.subnetMin?.text, '10.0.0.4/30')
  assert.equal(c.subnetMax?.text, '10.0.0.12/30')
})

test('host bits in Network are masked as net.ParseCIDR does', () => {
  assert.equal(parseNetworkConfig('{"Network":"10.244.3.7/16"}').network?.text, '10.244.0.0/16')
})

test('explicit SubnetMin/SubnetMax are kept', () => {
  const c = parseNetworkConfig('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.2.0"}')
  assert.equal(c.subnetMin?.text, '10.5.1.0/24')
  assert.equal(c.subnetMax?.text, '10.5.2.0/24')
})

const bad: [string, string, RegExp][] = [
  ['Network not a CIDR', '{"Network":"10.244.0.0"}', /Network "10.244.0.0" is not an IPv4 CIDR/],
  ['Network garbage', '{"Network":"foo; rm -rf /"}', /is not an IPv4 CIDR/],
  ['Network not a string', '{"Network":42}', /Network must be a string/],
  ['Network missing', '{"Backend":{"Type":"host-gw"}}', /please define a correct Network parameter/],
  ['Network smaller than /28', '{"Network":"10.0.0.0/29"}', /Network is too small. Minimum useful network prefix is \/28 \(got 10.0.0.0\/29\)/],
  ['SubnetLen that does not fit', '{"Network":"10.0.0.0/16","SubnetLen":17}', /Network must be able to accommodate at least four subnets/],
  ['SubnetLen above /30', '{"Network":"10.0.0.0/16","SubnetLen":31}', /SubnetLen must be less than \/31/],
  ['SubnetLen not a number', '{"Network":"10.0.0.0/16","SubnetLen":"24"}', /SubnetLen must be a non-negative integer/],
  ['SubnetMin outside', '{"Network":"10.5.0.0/16","SubnetMin":"10.6.0.0"}', /SubnetMin 10.6.0.0 is not in the range of the Network/],
  ['SubnetMax outside', '{"Network":"10.5.0.0/16","SubnetMax":"10.4.0.0"}', /SubnetMax 10.4.0.0 is not in the range/],
  ['SubnetMin unaligned', '{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.7"}', /SubnetMin is not on a SubnetLen boundary: 10.5.1.7/],
  ['SubnetMin above SubnetMax', '{"Network":"10.5.0.0/16","SubnetMin":"10.5.9.0","SubnetMax":"10.5.2.0"}', /above SubnetMax/],
  ['not JSON', '{"Network":', /not JSON/],
  ['not an object', '[1]', /not a JSON object/],
  ['Backend not an object', '{"Network":"10.0.0.0/16","Backend":"host-gw"}', /Backend must be an object/],
  ['Backend without Type', '{"Network":"10.0.0.0/16","Backend":{}}', /Backend.Type is missing/],
  ['both families off', '{"Network":"10.0.0.0/16","EnableIPv4":false}', /both false/],
  ['EnableIPv6 without IPv6Network', '{"Network":"10.0.0.0/16","EnableIPv6":true}', /correct IPv6Network parameter/],
]
for (const [name, text, re] of bad) {
  test(`bad config: ${name}`, () => assert.throws(() => parseNetworkConfig(text), re))
}

test('IPv6 defaults: /64 subnets from a /48', () => {
  const c = parseNetworkConfig('{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fc00:1::/48"}')
  assert.equal(c.ipv6SubnetLen, 64)
  assert.equal(c.ipv6SubnetMin?.text, 'fc00:1:0:1::/64')
  assert.equal(c.ipv6SubnetMax?.text, 'fc00:1:0:ffff::/64')
})
