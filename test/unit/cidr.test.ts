import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr, parseIp, containsCidr, overlaps, nthIp, lastAddr, formatIp } from '../../scripts/lib/net/cidr.ts'

test('CIDRs are masked to their network, Go-style text', () => {
  assert.equal(parseCidr('10.1.17.1/24').text, '10.1.17.0/24')
  assert.equal(parseCidr('fc00::1/64').text, 'fc00::/64')
  assert.equal(parseCidr('2001:cafe:42::/56').ipText, '2001:cafe:42::')
  assert.equal(formatIp(4, lastAddr(parseCidr('10.244.0.0/16'))), '10.244.255.255')
  assert.equal(nthIp(parseCidr('10.244.1.0/24'), 1n).text, '10.244.1.1')
})

test('anything but a plain address is refused', () => {
  for (const bad of ['1.2.3.4; touch /tmp/pwned/24', '10.0.0.0/33', '300.1.1.1/8', '10.0.0.0', ' 10.0.0.0/8', '10.0.0.0/8 ', '$(id)/8', 'fc00::/129']) {
    assert.throws(() => parseCidr(bad), /invalid CIDR address/, bad)
  }
  for (const bad of ['1.2.3.4; touch /tmp/pwned', '', '01.2.3.4', '1.2.3', 'localhost']) assert.throws(() => parseIp(bad), /invalid IP address/, bad)
  assert.throws(() => parseIp('::1', 4), /not an IPv4 address/)
})

test('containment and overlap', () => {
  const net = parseCidr('10.244.0.0/16')
  assert.equal(containsCidr(net, parseCidr('10.244.3.0/24')), true)
  assert.equal(containsCidr(net, parseCidr('10.245.3.0/24')), false)
  assert.equal(containsCidr(net, parseCidr('0.0.0.0/0')), false)
  assert.equal(overlaps(parseCidr('0.0.0.0/0'), net), true)
  assert.equal(containsCidr(net, parseCidr('fc00::/64')), false)
})
