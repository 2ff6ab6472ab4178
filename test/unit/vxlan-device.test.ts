// The vxlan device plan: flannel's attributes, reuse of a compatible link, the address step.
import { parseBackend, type VxlanBackend } from '../../scripts/lib/formats/backend.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { vxlanSpec, planDevice, planAddress, parseLinkState, incompatibility, randomMac } from '../../scripts/lib/subnet/vxlan-device.ts'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'
const vx = (raw: Record<string, unknown>) => parseBackend({ Type: 'vxlan', ...raw }) as VxlanBackend

const spec = vxlanSpec(vx({ Type: 'vxlan' }), 'eth0', '192.168.77.11', 1500)
const link = (data: Record<string, unknown>, kind = 'vxlan') =>
  parseLinkState([
    {
      ifname: 'flannel.1',
      mtu: 1450,
      address: '0a:11:22:33:44:55',
      linkinfo: { info_kind: kind, info_data: { id: 1, local: '192.168.77.11', link: 'eth0', port: 8472, learning: false, ...data } },
    },
  ])!

test('vxlanSpec: flannel defaults (VNI 1, port 0 = 8472, MTU ifMTU-50, nolearning)', () => {
  assert.deepEqual(spec, { name: 'flannel.1', vni: 1, port: 8472, dev: 'eth0', local: '192.168.77.11', mtu: 1450, learning: false, gbp: false })
  const s = vxlanSpec(vx({ type: 'vxlan', vni: 42, port: 4789, mtu: 9000 }), 'eth0', '192.168.77.11', 1500)
  assert.deepEqual([s.name, s.vni, s.port, s.mtu], ['flannel.42', 42, 4789, 8950])
})

test('vxlanSpec: bad VNI, Port, MTU and Learning are named', () => {
  assert.throws(() => vxlanSpec(vx({ VNI: 'x' }), 'eth0', '192.168.77.11', 1500), /Backend.VNI must be an integer from 0 to 16777215, got "x"/)
  assert.throws(() => vxlanSpec(vx({ VNI: 16777216 }), 'eth0', '192.168.77.11', 1500), /Backend.VNI/)
  assert.throws(() => vxlanSpec(vx({ Port: 70000 }), 'eth0', '192.168.77.11', 1500), /Backend.Port must be an integer from 0 to 65535/)
  assert.throws(() => vxlanSpec(vx({ MTU: 100 }), 'eth0', '192.168.77.11', 1500), /leaves 50 after the 50-byte encapsulation/)
  assert.throws(() => vxlanSpec(vx({ Learning: 'yes' }), 'eth0', '192.168.77.11', 1500), /Backend.Learning must be true or false/)
})

test('planDevice: no link -> one ip link add with every attribute', () => {
  assert.deepEqual(planDevice(spec, undefined, '0a:11:22:33:44:55'), [
    {
      argv: [
        'ip',
        'link',
        'add',
        'flannel.1',
        'address',
        '0a:11:22:33:44:55',
        'mtu',
        '1450',
        'type',
        'vxlan',
        'id',
        '1',
        'local',
        '192.168.77.11',
        'dev',
        'eth0',
        'dstport',
        '8472',
        'nolearning',
      ],
    },
  ])
})

test('planDevice: a compatible link is reused untouched (even with another MTU)', () => {
  const cur = { ...link({}), mtu: 1400 }
  assert.equal(incompatibility(spec, cur), undefined)
  assert.deepEqual(planDevice(spec, cur, 'ff:ff:ff:ff:ff:ff'), [])
})

test('planDevice: an incompatible link is deleted and recreated, the reason named', () => {
  assert.equal(incompatibility(spec, link({ id: 2 })), 'VNI 2 instead of 1')
  assert.equal(incompatibility(spec, link({ port: 4789 })), 'port 4789 instead of 8472')
  assert.equal(incompatibility(spec, link({ local: '192.168.77.99' })), 'local address 192.168.77.99 instead of 192.168.77.11')
  assert.equal(incompatibility(spec, link({}, 'bridge')), 'it is a bridge link, not vxlan')
  const plan = planDevice(spec, link({ link: 'eth1' }), '0a:00:00:00:00:01')
  assert.deepEqual(plan[0], { argv: ['ip', 'link', 'del', 'flannel.1'] })
  assert.equal(plan[1].argv[2], 'add')
})

test('planAddress: the lease network IP /32, other addresses of the network removed, link up', () => {
  const step = planAddress('flannel.1', parseCidr('10.244.4.0/24'), parseCidr('10.244.0.0/16'), [
    { local: '10.244.9.0', prefixlen: 32 },
    { local: '192.168.5.5', prefixlen: 24 },
  ])
  assert.deepEqual(step.argv, ['ip', '-batch', '-'])
  assert.equal(step.input, 'addr del 10.244.9.0/32 dev flannel.1\naddr add 10.244.4.0/32 dev flannel.1\nlink set flannel.1 up\n')
  const again = planAddress('flannel.1', parseCidr('10.244.4.0/24'), parseCidr('10.244.0.0/16'), [{ local: '10.244.4.0', prefixlen: 32 }])
  assert.equal(again.input, 'link set flannel.1 up\n')
})

test('randomMac: locally administered, unicast', () => {
  assert.equal(randomMac(Buffer.from([0xff, 1, 2, 3, 4, 5])), 'fe:01:02:03:04:05')
  assert.equal(randomMac(Buffer.from([0x00, 0xab, 2, 3, 4, 5])), '02:ab:02:03:04:05')
})

test('IPv6 twin: flannel-v6.<VNI>, IPv6 local, MTU 70 below the underlay, <lease IPv6>/128 nodad', () => {
  const s = vxlanSpec(vx({ Type: 'vxlan', VNI: 4 }), 'eth0', 'fd77::11', 1500, 6)
  assert.deepEqual([s.name, s.vni, s.local, s.mtu, s.port], ['flannel-v6.4', 4, 'fd77::11', 1430, 8472])
  assert.throws(() => vxlanSpec(vx({ Type: 'vxlan' }), 'eth0', '192.168.0.1', 1500, 6), /not an IPv6 address/)
  assert.throws(() => vxlanSpec(vx({ Type: 'vxlan', MTU: 1300 }), 'eth0', 'fd77::11', 1500, 6), /MTU 1300 leaves 1230 after the 70-byte encapsulation, below 1280/)
  const step = planAddress('flannel-v6.4', parseCidr('fd44:0:0:12::/64'), parseCidr('fd44::/56'), [
    { local: 'fd44:0:0:9::', prefixlen: 128 },
    { local: 'fe80::1', prefixlen: 64 },
    { local: '10.244.1.0', prefixlen: 32 },
  ])
  assert.equal(step.input, 'addr del fd44:0:0:9::/128 dev flannel-v6.4\naddr add fd44:0:0:12::/128 dev flannel-v6.4 nodad\nlink set flannel-v6.4 up\n')
})
