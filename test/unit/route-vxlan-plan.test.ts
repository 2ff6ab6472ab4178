// The vxlan peer plan: exact bridge/ip batch text; lease verdicts (bad MAC, VNI, BackendData).
import { parseBackend, type VxlanBackend } from '../../scripts/lib/formats/backend.ts'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import type { KV } from '../../scripts/lib/registry/etcd/client.ts'
import type { NodeView } from '../../scripts/lib/routes/hostgw/sync.ts'
import { parseVxlanKernel, planVxlan, type VxlanPeer } from '../../scripts/lib/routes/vxlan/plan.ts'
import { VxlanPeers, vxlanSteps, vxlanDev } from '../../scripts/lib/routes/vxlan/sync.ts'
import { showPlan } from '../../scripts/lib/core/plan.ts'
import { setLogSink } from '../../scripts/lib/core/log.ts'
const backend = (raw: Record<string, unknown>) => parseBackend({ Type: 'vxlan', ...raw }) as VxlanBackend

const P = '/coreos.com/network'
const net = parseCidr('10.244.0.0/16')
const own = parseCidr('10.244.1.0/24')
const node: NodeView = {
  prefix: P,
  iface: 'eth0',
  cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'),
  networks: [net],
  own: [own],
  localIps: ['192.168.77.11'],
}
const peer = (n: number, mac: string): VxlanPeer => ({ subnet: parseCidr(`10.244.${n}.0/24`), publicIp: { family: 4, value: 0n, text: `192.168.77.${10 + n}` }, mac })
const empty = parseVxlanKernel([], [], [], net, own)

test('planVxlan: new peers -> neigh + route in one ip batch, fdb in one bridge batch', () => {
  const p = planVxlan([peer(3, '0a:00:00:00:00:03'), peer(2, '0a:00:00:00:00:02')], empty, 'flannel.1')
  assert.equal(
    p.ipBatch,
    [
      'neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:02 dev flannel.1 nud permanent',
      'route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink',
      'neigh replace 10.244.3.0 lladdr 0a:00:00:00:00:03 dev flannel.1 nud permanent',
      'route replace 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink',
    ].join('\n') + '\n',
  )
  assert.equal(
    p.bridgeBatch,
    'fdb replace 0a:00:00:00:00:02 dev flannel.1 dst 192.168.77.12 self permanent\nfdb replace 0a:00:00:00:00:03 dev flannel.1 dst 192.168.77.13 self permanent\n',
  )
  assert.deepEqual([p.added, p.changed, p.removed], [2, 0, 0])
  assert.equal(showPlan(vxlanSteps(p)).split('\n')[0], "bridge -force -batch - <<'EOF'")
})

test('planVxlan: kernel in line -> nothing; a gone peer -> its three entries deleted; a changed MAC -> replaced', () => {
  const k = parseVxlanKernel(
    [
      { dst: '10.244.2.0', lladdr: '0a:00:00:00:00:02', state: ['PERMANENT'] },
      { dst: '10.244.7.0', lladdr: '0a:00:00:00:00:07', state: ['PERMANENT'] },
      { dst: '10.244.1.5', lladdr: '0a:00:00:00:00:99', state: ['PERMANENT'] },
    ],
    [
      { mac: '0a:00:00:00:00:02', dst: '192.168.77.12', flags: ['self'], state: 'permanent' },
      { mac: '0a:00:00:00:00:07', dst: '192.168.77.17', flags: ['self'], state: 'permanent' },
      { mac: '00:00:00:00:00:00', dst: '192.168.77.50', flags: ['self'] },
    ],
    [
      { dst: '10.244.2.0/24', gateway: '10.244.2.0', flags: ['onlink'] },
      { dst: '10.244.7.0/24', gateway: '10.244.7.0', flags: ['onlink'] },
      { dst: '10.99.0.0/24', gateway: '10.99.0.0', flags: ['onlink'] },
    ],
    net,
    own,
  )
  const same = planVxlan([peer(2, '0a:00:00:00:00:02'), peer(7, '0a:00:00:00:00:07')], k, 'flannel.1')
  assert.deepEqual([same.ipBatch, same.bridgeBatch], ['', ''])
  const gone = planVxlan([peer(2, '0a:00:00:00:00:02')], k, 'flannel.1')
  assert.equal(gone.ipBatch, 'route del 10.244.7.0/24 via 10.244.7.0 dev flannel.1\nneigh del 10.244.7.0 dev flannel.1\n')
  assert.equal(gone.bridgeBatch, 'fdb del 0a:00:00:00:00:07 dev flannel.1 dst 192.168.77.17 self\n')
  assert.equal(gone.removed, 1)
  const moved = planVxlan([peer(2, '0a:00:00:00:00:22'), peer(7, '0a:00:00:00:00:07')], k, 'flannel.1')
  assert.equal(moved.ipBatch, 'neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:22 dev flannel.1 nud permanent\n')
  assert.equal(moved.bridgeBatch, 'fdb del 0a:00:00:00:00:02 dev flannel.1 dst 192.168.77.12 self\nfdb replace 0a:00:00:00:00:22 dev flannel.1 dst 192.168.77.12 self permanent\n')
  assert.deepEqual([moved.added, moved.changed], [0, 1])
})

const vx = (ip: string, data: unknown, type = 'vxlan') => JSON.stringify({ PublicIP: ip, PublicIPv6: null, BackendType: type, BackendData: data })
let rev = 1
const kv = (subnet: string, value: string): [string, KV] => [
  `${P}/subnets/${subnet}`,
  { key: `${P}/subnets/${subnet}`, value, modRevision: rev++, createRevision: 1, version: 1, lease: '0' },
]

test('VxlanPeers: valid vxlan leases become peers; own silent; each bad one warned once with the key and reason', () => {
  const said: string[] = []
  const restore = setLogSink((line) => void said.push(line))
  try {
    const peers = new VxlanPeers(node, 1)
    const leases = new Map([
      kv('10.244.1.0-24', vx('192.168.77.11', { VNI: 1, VtepMAC: '0a:00:00:00:00:01' })),
      kv('10.244.2.0-24', vx('192.168.77.12', { VNI: 1, VtepMAC: '0A:00:00:00:00:02' })),
      kv('10.244.3.0-24', vx('192.168.77.13', { VNI: 1, VtepMAC: 'zz:00:00:00:00:03' })),
      kv('10.244.4.0-24', vx('192.168.77.14', { VNI: 2, VtepMAC: '0a:00:00:00:00:04' })),
      kv('10.244.5.0-24', vx('192.168.77.15', 'x')),
      kv('10.244.6.0-24', vx('192.168.77.16', { VNI: 1, VtepMAC: '01:00:5e:00:00:06' })),
      kv('10.244.8.0-24', vx('192.168.77.18', null, 'host-gw')),
    ])
    assert.deepEqual(
      peers.compute(leases).map((p) => `${p.subnet.text} ${p.mac} ${p.publicIp.text}`),
      ['10.244.2.0/24 0a:00:00:00:00:02 192.168.77.12'],
    )
    peers.compute(leases)
  } finally {
    setLogSink(restore)
  }
  const text = said.join('')
  assert.equal(said.length, 5, text)
  assert.match(text, /ignoring lease \/coreos.com\/network\/subnets\/10.244.3.0-24: BackendData VtepMAC "zz:00:00:00:00:03" is not a MAC address/)
  assert.match(text, /10.244.4.0-24: BackendData VNI 2 does not match ours \(1\)/)
  assert.match(text, /10.244.5.0-24: .*BackendData "x" is not an object/)
  assert.match(text, /10.244.6.0-24: BackendData VtepMAC 01:00:5e:00:00:06 is a multicast address/)
  assert.match(text, /10.244.8.0-24: backend type "host-gw", this node runs vxlan/)
})

test('vxlanDev: flannel.<VNI> (and flannel-v6.<VNI>), VNI 1 by default, a bad VNI named', () => {
  assert.deepEqual(vxlanDev(backend({ Type: 'vxlan' })), { dev: 'flannel.1', dev6: 'flannel-v6.1', vni: 1 })
  assert.deepEqual(vxlanDev(backend({ Type: 'vxlan', vni: 7 })), { dev: 'flannel.7', dev6: 'flannel-v6.7', vni: 7 })
  assert.throws(() => vxlanDev(backend({ VNI: -1 })), /Backend.VNI must be an integer/)
})

test('dual stack: a lease gives an IPv6 peer from BackendV6Data; planned on flannel-v6.1 with the IPv6 texts', () => {
  const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"vxlan"}}')
  const own6 = parseCidr('fd44:0:0:1::/64')
  const n6: NodeView = { ...node, cfg, networks: [net, cfg.ipv6Network!], own: [own, own6] }
  const said: string[] = []
  const restore = setLogSink((line) => void said.push(line))
  let peers: VxlanPeer[]
  try {
    const dual = (v4: string, v6: string, d6: unknown) =>
      JSON.stringify({
        PublicIP: v4,
        PublicIPv6: v6,
        BackendType: 'vxlan',
        BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:02' },
        ...(d6 === undefined ? {} : { BackendV6Data: d6 }),
      })
    peers = new VxlanPeers(n6, 1).compute(
      new Map([
        kv('10.244.2.0-24&fd44:0:0:2::-64', dual('192.168.77.12', 'fd77::12', { VNI: 1, VtepMAC: '0A:00:00:00:06:02' })),
        kv('10.244.3.0-24&fd44:0:0:3::-64', dual('192.168.77.13', 'fd77::13', undefined)),
      ]),
    )
  } finally {
    setLogSink(restore)
  }
  assert.deepEqual(
    peers.map((p) => `${p.subnet.text} ${p.publicIp.text} ${p.mac}`),
    ['10.244.2.0/24 192.168.77.12 0a:00:00:00:00:02', 'fd44:0:0:2::/64 fd77::12 0a:00:00:00:06:02', '10.244.3.0/24 192.168.77.13 0a:00:00:00:00:02'],
  )
  assert.match(said.join(''), /no IPv6 peer for lease \/coreos\.com\/network\/subnets\/10\.244\.3\.0-24&fd44:0:0:3::-64: vxlan lease without BackendV6Data/)
  const k = parseVxlanKernel(
    [{ dst: 'fd44:0:0:9::', lladdr: '0a:00:00:00:06:09', state: ['PERMANENT'] }],
    [{ mac: '0a:00:00:00:06:09', dst: 'fd77:0:0:0::19', flags: ['self'], state: 'permanent' }],
    [
      { dst: 'fd44:0:0:9::/64', gateway: 'fd44:0:0:9::', flags: ['onlink'] },
      { dst: 'fd44:0:0:1::', flags: [] },
    ],
    cfg.ipv6Network!,
    own6,
  )
  assert.equal(k.fdb.get('0a:00:00:00:06:09'), 'fd77::19', 'IPv6 texts normalised')
  const p = planVxlan(
    peers.filter((x) => x.subnet.family === 6),
    k,
    'flannel-v6.1',
  )
  assert.equal(
    p.ipBatch,
    'route del fd44:0:0:9::/64 via fd44:0:0:9:: dev flannel-v6.1\nneigh del fd44:0:0:9:: dev flannel-v6.1\nneigh replace fd44:0:0:2:: lladdr 0a:00:00:00:06:02 dev flannel-v6.1 nud permanent\nroute replace fd44:0:0:2::/64 via fd44:0:0:2:: dev flannel-v6.1 onlink\n',
  )
  assert.equal(p.bridgeBatch, 'fdb del 0a:00:00:00:06:09 dev flannel-v6.1 dst fd77::19 self\nfdb replace 0a:00:00:00:06:02 dev flannel-v6.1 dst fd77::12 self permanent\n')
})

test('dual stack: a lease naming our own PublicIPv6 for a subnet not ours is ignored with a warning', () => {
  const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"vxlan"}}')
  const n6: NodeView = { ...node, cfg, networks: [net, cfg.ipv6Network!], own: [own, parseCidr('fd44:0:0:1::/64')], localIps: ['192.168.77.11', 'fd77::11'] }
  const said: string[] = []
  const restore = setLogSink((line) => void said.push(line))
  try {
    const value = JSON.stringify({
      PublicIP: '192.168.77.12',
      PublicIPv6: 'fd77::11',
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:02' },
      BackendV6Data: { VNI: 1, VtepMAC: '0a:00:00:00:06:02' },
    })
    assert.deepEqual(new VxlanPeers(n6, 1).compute(new Map([kv('10.244.2.0-24&fd44:0:0:2::-64', value)])), [])
  } finally {
    setLogSink(restore)
  }
  assert.match(said.join(''), /its PublicIPv6 fd77::11 is this node's, but the subnet is not ours/)
})
