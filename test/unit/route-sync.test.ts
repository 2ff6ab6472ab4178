import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import type { KV } from '../../scripts/lib/registry/etcd/client.ts'
import { DesiredRoutes, type NodeView } from '../../scripts/lib/routes/hostgw/sync.ts'
import { setLogSink } from '../../scripts/lib/core/log.ts'

const P = '/coreos.com/network'
const node: NodeView = {
  prefix: P,
  iface: 'eth0',
  cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'),
  networks: [parseCidr('10.244.0.0/16')],
  own: [parseCidr('10.244.1.0/24')],
  localIps: ['192.168.50.1'],
}
const lease = (ip: string, type = 'host-gw') => JSON.stringify({ PublicIP: ip, PublicIPv6: null, BackendType: type, BackendData: null })
let rev = 1
const kv = (subnet: string, value: string): [string, KV] => [
  `${P}/subnets/${subnet}`,
  { key: `${P}/subnets/${subnet}`, value, modRevision: rev++, createRevision: 1, version: 1, lease: '0' },
]

function capture<T>(fn: () => T): { r: T; said: string[] } {
  const said: string[] = []
  const restore = setLogSink((line) => void said.push(line))
  try {
    return { r: fn(), said }
  } finally {
    setLogSink(restore)
  }
}

test('desired routes: one per valid host-gw peer; own lease silent; bad ones warned once; touched tracks changes', () => {
  const d = new DesiredRoutes(node)
  const leases = new Map([
    kv('10.244.1.0-24', lease('192.168.50.1')),
    kv('10.244.2.0-24', lease('192.168.50.12')),
    kv('10.244.3.0-24', lease('192.168.50.13')),
    kv('10.244.4.0-24', lease('192.168.50.14', 'vxlan')),
    kv('10.99.0.0-24', lease('192.168.50.15')),
    kv('10.244.5.0-24', lease('1.2.3.4; touch /tmp/x')),
  ])
  const first = capture(() => d.compute(leases))
  assert.deepEqual(
    first.r.routes.map((r) => `${r.dst.text} via ${r.gateway.text}`),
    ['10.244.2.0/24 via 192.168.50.12', '10.244.3.0/24 via 192.168.50.13'],
  )
  assert.deepEqual([...first.r.touched].sort(), ['10.244.2.0/24', '10.244.3.0/24'])
  assert.equal(first.said.length, 3)
  assert.match(first.said.join(''), /warning: ignoring lease \/coreos.com\/network\/subnets\/10.244.4.0-24: backend type "vxlan"/)
  assert.match(first.said.join(''), /ignoring lease \/coreos.com\/network\/subnets\/10.99.0.0-24: subnet 10.99.0.0\/24 is outside the network 10.244.0.0\/16/)
  assert.match(first.said.join(''), /ignoring lease \/coreos.com\/network\/subnets\/10.244.5.0-24: PublicIP "1.2.3.4; touch \/tmp\/x" is not a plain IPv4 address/)

  const again = capture(() => d.compute(leases))
  assert.equal(again.said.length, 0)
  assert.equal(again.r.touched.size, 0)

  leases.set(...kv('10.244.3.0-24', lease('192.168.50.33')))
  leases.delete(`${P}/subnets/10.244.2.0-24`)
  const third = capture(() => d.compute(leases))
  assert.deepEqual([...third.r.touched].sort(), ['10.244.2.0/24', '10.244.3.0/24'])
  assert.deepEqual(
    third.r.routes.map((r) => `${r.dst.text} via ${r.gateway.text}`),
    ['10.244.3.0/24 via 192.168.50.33'],
  )
})

test('desired routes: another node claiming our subnet is warned about; a lease naming our IP for another subnet too', () => {
  const d = new DesiredRoutes(node)
  const { r, said } = capture(() => d.compute(new Map([kv('10.244.1.0-24', lease('192.168.50.66')), kv('10.244.7.0-24', lease('192.168.50.1'))])))
  assert.equal(r.routes.length, 0)
  assert.match(said.join(''), /10.244.1.0-24: subnet 10.244.1.0\/24 is our own/)
  assert.match(said.join(''), /10.244.7.0-24: its PublicIP 192.168.50.1 is this node's/)
})
