// Dual-stack host-gw routes: each peer lease gives a v4 and a v6 route; bad v6 values are warned
// about and give no route; the plan for both families is exact ip -batch text.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import type { KV } from '../../scripts/lib/registry/etcd/client.ts'
import { DesiredRoutes, type NodeView } from '../../scripts/lib/routes/hostgw/sync.ts'
import { managedRoutes, parseKernelRoutes, planRoutes } from '../../scripts/lib/routes/hostgw/plan.ts'
import { setLogSink } from '../../scripts/lib/core/log.ts'

const P = '/coreos.com/network'
const node: NodeView = {
  prefix: P,
  iface: 'eth0',
  cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}'),
  networks: [parseCidr('10.244.0.0/16'), parseCidr('fd44::/56')],
  own: [parseCidr('10.244.1.0/24'), parseCidr('fd44:0:0:1::/64')],
  localIps: ['192.168.50.1', 'fd77::11'],
}
const lease = (ip: string, ip6: string | null) => JSON.stringify({ PublicIP: ip, PublicIPv6: ip6, BackendType: 'host-gw' })
let rev = 1
const kv = (k: string, value: string): [string, KV] => [`${P}/subnets/${k}`, { key: `${P}/subnets/${k}`, value, modRevision: rev++, createRevision: 1, version: 1, lease: '0' }]

function quietly<T>(fn: () => T): { r: T; said: string } {
  let said = ''
  const restore = setLogSink((line) => void (said += line))
  try {
    return { r: fn(), said }
  } finally {
    setLogSink(restore)
  }
}

test('dual stack: one v4 and one v6 route per good peer; own lease silent; bad v6 peers warned', () => {
  const d = new DesiredRoutes(node)
  const { r, said } = quietly(() =>
    d.compute(
      new Map([
        kv('10.244.1.0-24&fd44:0:0:1::-64', lease('192.168.50.1', 'fd77::11')),
        kv('10.244.2.0-24&fd44:0:0:2::-64', lease('192.168.50.12', 'fd77::12')),
        kv('10.244.3.0-24&fd99::-64', lease('192.168.50.13', 'fd77::13')),
        kv('10.244.4.0-24&fd44:0:0:1::-64', lease('192.168.50.14', 'fd77::14')),
        kv('10.244.5.0-24&fd44:0:0:5::-64', lease('192.168.50.15', 'ff02::1')),
        kv('10.244.6.0-24&fd44:0:0:6::-64', lease('192.168.50.16', 'fd77::11')),
      ]),
    ),
  )
  assert.deepEqual(
    r.routes.map((x) => `${x.dst.text} via ${x.gateway.text}`),
    ['10.244.2.0/24 via 192.168.50.12', 'fd44:0:0:2::/64 via fd77::12'],
  )
  assert.match(said, /fd99::\/64 is outside the IPv6 network fd44::\/56/)
  assert.match(said, /subnet fd44:0:0:1::\/64 is our own/)
  assert.match(said, /PublicIPv6 ff02::1 is a multicast address/)
  assert.match(said, /PublicIPv6 fd77::11 is this node's/)
  assert.doesNotMatch(said, /10\.244\.1\.0-24/)
})

test('dual-stack plan: stale v6 route inside IPv6Network removed, one outside kept, exact text', () => {
  const v6 = parseKernelRoutes(
    [
      { dst: 'fd44:0:0:1::/64', dev: 'cni0', protocol: 'kernel', metric: 256, flags: [] },
      { dst: 'fd44:0:0:9::/64', gateway: 'fd77::99', dev: 'eth0', metric: 1024, flags: [] },
      { dst: 'fd55::/64', gateway: 'fd77::98', dev: 'eth0', metric: 1024, flags: [] },
      { dst: 'fd77::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [] },
    ],
    6,
  )
  const v4 = parseKernelRoutes([{ dst: '10.244.2.0/24', gateway: '192.168.50.12', dev: 'eth0', flags: [] }], 4)
  const managed = managedRoutes([...v4, ...v6], { networks: node.networks, own: node.own })
  const want = [
    { dst: parseCidr('10.244.2.0/24'), gateway: { family: 4 as const, value: 0n, text: '192.168.50.12' } },
    { dst: parseCidr('fd44:0:0:2::/64'), gateway: { family: 6 as const, value: 0n, text: 'fd77::12' } },
  ]
  const p = planRoutes(want, managed, 'eth0')
  assert.equal(p.batch, 'route del fd44:0:0:9::/64 via fd77::99 dev eth0 metric 1024\nroute replace fd44:0:0:2::/64 via fd77::12 dev eth0\n')
  assert.deepEqual([p.added, p.removed, p.unchanged], [1, 1, 1])
})
