// subnet.env as flannel's CNI plugin reads it (reference/cni.md 1.3).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSubnetEnv } from '../../scripts/lib/formats/subnet-env.ts'

const P = '/run/flannel/subnet.env'
const texts = (cs: { text: string }[]) => cs.map((c) => c.text)

test('v4: masked, IPMASQ true only for exactly "true"', () => {
  const e = parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', P)
  assert.deepEqual(texts(e.networks), ['10.244.0.0/16'])
  assert.equal(e.subnet?.text, '10.244.1.0/24')
  assert.equal(e.mtu, 1450)
  assert.equal(e.ipmasq, true)
  assert.equal(parseSubnetEnv('FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.1.0.0/24\nFLANNEL_MTU=1\nFLANNEL_IPMASQ=True', P).ipmasq, false)
})

test('v6 only, compressed and masked; CRLF lines; comments and unknown keys ignored', () => {
  const e = parseSubnetEnv('# hi\r\nFOO=bar\r\nFLANNEL_IPV6_NETWORK=fc00:0::/48\r\nFLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\r\nFLANNEL_MTU=01400\r\nFLANNEL_IPMASQ=\r\n', P)
  assert.deepEqual(texts(e.ipv6Networks), ['fc00::/48'])
  assert.equal(e.ipv6Subnet?.text, 'fc00:0:0:1::/64')
  assert.equal(e.subnet, undefined)
  assert.equal(e.mtu, 1400)
  assert.equal(e.ipmasq, false)
})

test('multiple networks: order kept, exact duplicates dropped, a repeated key replaces the list', () => {
  const e = parseSubnetEnv(
    'FLANNEL_NETWORK=1.0.0.0/8\nFLANNEL_NETWORK=10.1.17.1/24,10.2.0.0/16,10.1.17.0/24\nFLANNEL_SUBNET=10.1.17.0/24\nFLANNEL_MTU=1\nFLANNEL_IPMASQ=false\n',
    P,
  )
  assert.deepEqual(texts(e.networks), ['10.1.17.0/24', '10.2.0.0/16'])
})

test('errors: bad CIDR, MTU -1, 1e3, out of range; missing keys listed in order', () => {
  const base = 'FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.1.0.0/24\nFLANNEL_IPMASQ=true\n'
  assert.throws(() => parseSubnetEnv('FLANNEL_NETWORK=10.0.0.0/8, 10.1.0.0/16\n', P), { message: 'invalid CIDR address:  10.1.0.0/16' })
  assert.throws(() => parseSubnetEnv(base + 'FLANNEL_MTU=-1\n', P), { message: 'strconv.ParseUint: parsing "-1": invalid syntax' })
  assert.throws(() => parseSubnetEnv(base + 'FLANNEL_MTU=1e3\n', P), { message: 'strconv.ParseUint: parsing "1e3": invalid syntax' })
  assert.throws(() => parseSubnetEnv(base + 'FLANNEL_MTU=4294967296\n', P), { message: 'strconv.ParseUint: parsing "4294967296": value out of range' })
  assert.throws(() => parseSubnetEnv('', P), {
    message: '/run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ',
  })
  assert.throws(() => parseSubnetEnv(base, P), { message: '/run/flannel/subnet.env is missing FLANNEL_MTU' })
})

test('a network of one family and a subnet of the other are accepted (as flannel does)', () => {
  const e = parseSubnetEnv('FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_IPV6_SUBNET=fc00::/64\nFLANNEL_MTU=1\nFLANNEL_IPMASQ=true\n', P)
  assert.equal(e.ipv6Subnet?.text, 'fc00::/64')
})

test('a known key without "=" reads as an empty value (flannel panics)', () => {
  assert.throws(() => parseSubnetEnv('FLANNEL_MTU\n', P), { message: 'strconv.ParseUint: parsing "": invalid syntax' })
})
