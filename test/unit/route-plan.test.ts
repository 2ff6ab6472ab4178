import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr, parseIp } from '../../scripts/lib/net/cidr.ts'
import { managedRoutes, parseKernelRoutes, planRoutes, planSummary, type DesiredRoute } from '../../scripts/lib/routes/hostgw/plan.ts'

const scope = { networks: [parseCidr('10.244.0.0/16')], own: [parseCidr('10.244.1.0/24')] }
const want = (dst: string, gw: string): DesiredRoute => ({ dst: parseCidr(dst), gateway: parseIp(gw) })

// What `ip -4 -j route show table main` prints on a node (iproute2 6.1).
const kernel = [
  { dst: 'default', gateway: '192.168.50.254', dev: 'eth0', flags: [] },
  { dst: '10.244.1.0/24', dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.1', flags: [] },
  { dst: '10.244.2.0/24', gateway: '192.168.50.12', dev: 'eth0', flags: [] },
  { dst: '10.244.3.0/24', gateway: '192.168.50.99', dev: 'eth0', flags: [] },
  { dst: '10.244.9.0/24', gateway: '192.168.50.77', dev: 'eth0', flags: [] },
  { dst: '10.244.9.0/24', gateway: '192.168.50.78', dev: 'eth0', metric: 100, flags: [] },
  { dst: '10.244.8.0/24', dev: 'eth0', scope: 'link', flags: [] },
  { dst: '10.244.7.0/24', type: 'blackhole', flags: [] },
  { dst: '10.244.6.5', gateway: '192.168.50.6', dev: 'eth0', flags: [] },
  { dst: '10.99.0.0/24', gateway: '192.168.50.77', dev: 'eth0', flags: [] },
  { dst: '10.244.0.0/16', gateway: '192.168.50.254', dev: 'eth0', metric: 50, flags: [] },
  { dst: '192.168.50.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.168.50.1', flags: [] },
]

test('managed routes: gateway routes inside the network, not overlapping ours, not outside', () => {
  const m = managedRoutes(parseKernelRoutes(kernel, 4), scope)
  assert.deepEqual(
    m.map((r) => `${r.dst.text} ${r.gateway?.text} ${r.metric}`),
    ['10.244.2.0/24 192.168.50.12 0', '10.244.3.0/24 192.168.50.99 0', '10.244.9.0/24 192.168.50.77 0', '10.244.9.0/24 192.168.50.78 100', '10.244.6.5/32 192.168.50.6 0'],
  )
})

test('plan: add new, replace changed gateway, delete stale, keep the rest', () => {
  const m = managedRoutes(parseKernelRoutes(kernel, 4), scope)
  const p = planRoutes([want('10.244.2.0/24', '192.168.50.12'), want('10.244.3.0/24', '192.168.50.13'), want('10.244.4.0/24', '192.168.50.14')], m, 'eth0')
  assert.equal(
    p.batch,
    [
      'route del 10.244.6.5/32 via 192.168.50.6 dev eth0',
      'route del 10.244.9.0/24 via 192.168.50.77 dev eth0',
      'route del 10.244.9.0/24 via 192.168.50.78 dev eth0 metric 100',
      'route replace 10.244.3.0/24 via 192.168.50.13 dev eth0',
      'route replace 10.244.4.0/24 via 192.168.50.14 dev eth0',
      '',
    ].join('\n'),
  )
  assert.deepEqual([p.added, p.replaced, p.removed, p.unchanged], [1, 1, 3, 1])
  assert.equal(planSummary(p), '1 added, 1 replaced, 3 removed')
})

test('plan: the same route on another device is replaced; a metric-100 twin is deleted', () => {
  const actual = parseKernelRoutes(
    [
      { dst: '10.244.2.0/24', gateway: '192.168.50.12', dev: 'eth1', flags: [] },
      { dst: '10.244.2.0/24', gateway: '192.168.50.12', dev: 'eth0', metric: 100, flags: [] },
    ],
    4,
  )
  const p = planRoutes([want('10.244.2.0/24', '192.168.50.12')], managedRoutes(actual, scope), 'eth0')
  assert.equal(p.batch, 'route del 10.244.2.0/24 via 192.168.50.12 dev eth0 metric 100\nroute replace 10.244.2.0/24 via 192.168.50.12 dev eth0\n')
})

test('plan: a desired destination held by a device route or blackhole is written with replace', () => {
  const actual = parseKernelRoutes([{ dst: '10.244.7.0/24', type: 'blackhole', flags: [] }], 4)
  const p = planRoutes([want('10.244.7.0/24', '192.168.50.17')], managedRoutes(actual, scope), 'eth0')
  assert.equal(p.batch, 'route replace 10.244.7.0/24 via 192.168.50.17 dev eth0\n')
  assert.equal(p.added, 1)
})

test('plan: nothing to do gives an empty batch', () => {
  const m = managedRoutes(parseKernelRoutes(kernel.slice(0, 3), 4), scope)
  const p = planRoutes([want('10.244.2.0/24', '192.168.50.12')], m, 'eth0')
  assert.equal(p.batch, '')
  assert.deepEqual([p.added, p.replaced, p.removed, p.unchanged], [0, 0, 0, 1])
})

test('plan: no peers removes every managed route, never the bridge route, the aggregate over ours or outside ones', () => {
  const p = planRoutes([], managedRoutes(parseKernelRoutes(kernel, 4), scope), 'eth0')
  assert.equal(p.removed, 5)
  assert.doesNotMatch(p.batch, /10\.244\.0\.0\/16|10\.244\.1\.0|10\.99\.|192\.168\.50\.0|default|10\.244\.8\.0|10\.244\.7\.0/)
})

test('plan: multipath routes inside the network are deleted by destination and metric', () => {
  const actual = parseKernelRoutes(
    [
      {
        dst: '10.244.5.0/24',
        nexthops: [
          { gateway: '192.168.50.5', dev: 'eth0' },
          { gateway: '192.168.50.6', dev: 'eth0' },
        ],
      },
    ],
    4,
  )
  assert.equal(planRoutes([], managedRoutes(actual, scope), 'eth0').batch, 'route del 10.244.5.0/24\n')
  const p = planRoutes([want('10.244.5.0/24', '192.168.50.5')], managedRoutes(actual, scope), 'eth0')
  assert.equal(p.batch, 'route replace 10.244.5.0/24 via 192.168.50.5 dev eth0\n')
  assert.equal(p.replaced, 1)
})

test('plan: IPv6 routes use the kernel default metric 1024', () => {
  const s6 = { networks: [parseCidr('fc00::/48')], own: [parseCidr('fc00:0:0:1::/64')] }
  const actual = parseKernelRoutes(
    [
      { dst: 'fc00:0:0:2::/64', gateway: 'fd00::12', dev: 'eth0', metric: 1024, pref: 'medium', flags: [] },
      { dst: 'fc00:0:0:9::/64', gateway: 'fd00::99', dev: 'eth0', metric: 1024, pref: 'medium', flags: [] },
      { dst: 'fc00:0:0:1::/64', dev: 'cni0', protocol: 'kernel', metric: 256, pref: 'medium', flags: [] },
    ],
    6,
  )
  const p = planRoutes([want('fc00:0:0:2::/64', 'fd00::12'), want('fc00:0:0:3::/64', 'fd00::13')], managedRoutes(actual, s6), 'eth0')
  assert.equal(p.batch, 'route del fc00:0:0:9::/64 via fd00::99 dev eth0 metric 1024\nroute replace fc00:0:0:3::/64 via fd00::13 dev eth0\n')
})

test('parseKernelRoutes rejects what is not an array', () => {
  assert.throws(() => parseKernelRoutes({}, 4), /expected a JSON array/)
})
