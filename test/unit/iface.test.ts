import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chooseIface, chooseLink, ifaceNameProblem, type LinkAddrs } from '../../scripts/lib/net/iface.ts'
import { parseIp } from '../../scripts/lib/net/cidr.ts'

const links: LinkAddrs[] = [
  { ifindex: 1, ifname: 'lo', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', scope: 'host' }] },
  {
    ifindex: 2,
    ifname: 'eth0',
    mtu: 1500,
    addr_info: [
      { family: 'inet6', local: 'fe80::1', scope: 'link' },
      { family: 'inet', local: '169.254.1.1', scope: 'link' },
      { family: 'inet', local: '192.168.1.10', scope: 'global' },
    ],
  },
  {
    ifindex: 3,
    ifname: 'eth1',
    mtu: 9000,
    addr_info: [
      { family: 'inet', local: '10.0.0.5', scope: 'global', deprecated: true },
      { family: 'inet', local: '10.0.0.6', scope: 'global' },
    ],
  },
]
const none = { iface: [], ifaceRegex: [] }

test('default route interface, global address before link-local', () => {
  assert.deepEqual(chooseIface(links, [{ dev: 'eth0' }], none), { name: 'eth0', index: 2, mtu: 1500, ip: { family: 4, value: 3232235786n, text: '192.168.1.10' } })
})

test('--iface by name or by IP, in order; deprecated addresses skipped', () => {
  assert.equal(chooseIface(links, [], { ...none, iface: ['nope', 'eth1'] }).ip.text, '10.0.0.6')
  assert.equal(chooseIface(links, [], { ...none, iface: ['192.168.1.10'] }).name, 'eth0')
})

test('--iface-regex matches addresses first, then names', () => {
  assert.equal(chooseIface(links, [], { ...none, ifaceRegex: ['^10\\.0\\.0\\.6$'] }).name, 'eth1')
  assert.equal(chooseIface(links, [], { ...none, ifaceRegex: ['^eth1$'] }).mtu, 9000)
})

test('--public-ip picks the interface holding it', () => {
  assert.equal(chooseIface(links, [], { ...none, publicIp: '10.0.0.6' }).name, 'eth1')
})

test('an --iface naming no interface, no default route, or an unheld public IP is an error', () => {
  assert.throws(() => chooseIface(links, [{ dev: 'eth0' }], { ...none, iface: ['wlan9'] }), /failed to find any interface/)
  assert.throws(() => chooseIface(links, [], none), /no default route/)
  assert.throws(() => chooseIface(links, [], { ...none, publicIp: '1.2.3.4' }), /error looking up interface/)
})

test('--iface-can-reach uses the device of the route towards that address', () => {
  assert.equal(chooseIface(links, [], { ...none, canReach: '10.0.0.99', canReachDev: 'eth1' }).ip.text, '10.0.0.6')
  assert.throws(() => chooseIface(links, [], { ...none, canReach: '10.9.9.9' }), /--iface-can-reach 10\.9\.9\.9/)
})

test('ifaceNameProblem: the kernel rule and the ip -batch rule, in one place for every part', () => {
  for (const ok of ['eth0', 'ens3.100', 'br-lan', 'veth@x', 'a'.repeat(15)]) assert.equal(ifaceNameProblem(ok), undefined, ok)
  for (const bad of ['', '.', '..', 'a/b', 'eth0:1', 'a b', 'a'.repeat(16), 'ééééééééé']) assert.equal(ifaceNameProblem(bad), 'not a valid interface name', bad)
  for (const bad of ['eth#0', 'a"b', "a'b", 'a\\b']) assert.match(ifaceNameProblem(bad)!, /does not support/, bad)
})

test("chooseLink (the subnet writer's link, for its MTU): a name, an address in any spelling, the public IP, else the default route's; named errors", () => {
  const v6only: LinkAddrs = { ifindex: 4, ifname: 'v6', mtu: 1400, addr_info: [{ family: 'inet6', local: 'fd00::5', scope: 'global' }] }
  const all = [...links, v6only]
  assert.deepEqual(chooseLink(all, [], 'eth1'), { name: 'eth1', mtu: 9000 })
  assert.deepEqual(chooseLink(all, [], 'v6'), { name: 'v6', mtu: 1400 }, 'no IPv4 address needed')
  assert.deepEqual(chooseLink(all, [], 'fd00:0:0::5'), { name: 'v6', mtu: 1400 })
  assert.deepEqual(chooseLink(all, [], '', parseIp('10.0.0.6')), { name: 'eth1', mtu: 9000 })
  assert.deepEqual(chooseLink(all, [{ dev: 'eth0' }], ''), { name: 'eth0', mtu: 1500 })
  assert.throws(() => chooseLink(all, [], 'nosuch0'), /^Error: --iface nosuch0: no such interface$/)
  assert.throws(() => chooseLink(all, [], '10.9.9.9'), /--iface 10.9.9.9: no interface has that address/)
  assert.throws(() => chooseLink(all, [], 'a b'), /--iface "a b": not a valid interface name/)
  assert.throws(() => chooseLink(all, [], '', parseIp('10.9.9.9')), /no interface has --public-ip 10.9.9.9/)
  assert.throws(() => chooseLink(all, [], ''), /no default route to pick the external interface from/)
})
