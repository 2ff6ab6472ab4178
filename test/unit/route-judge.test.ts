// The one judgement of a peer lease (routes/peers.ts judgePeer), the same for every backend: the
// lease if the backend acts on it, '' for our own, else why not, naming the node's backend.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { judgePeer, type NodeView } from '../../scripts/lib/routes/peers.ts'

const P = '/coreos.com/network'
const node: NodeView = {
  prefix: P,
  iface: 'eth0',
  cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'),
  networks: [parseCidr('10.244.0.0/16')],
  own: [parseCidr('10.244.1.0/24')],
  localIps: ['192.168.50.1', 'fd77::11'],
}
const rec = (k: string, v: object) => ({ key: `${P}/subnets/${k}`, value: JSON.stringify(v), modRevision: 1 })
const hg = (ip: string, ip6: string | null = null) => ({ PublicIP: ip, PublicIPv6: ip6, BackendType: 'host-gw', BackendData: null })

test('judgePeer: a valid peer is its lease; our own is silent; a wrong type names the backend this node runs', () => {
  const l = judgePeer(rec('10.244.2.0-24', hg('192.168.50.12')), node, 'host-gw')
  assert.equal(typeof l === 'string' ? l : `${l.subnet.text} via ${l.publicIp.text}`, '10.244.2.0/24 via 192.168.50.12')
  assert.equal(judgePeer(rec('10.244.1.0-24', hg('192.168.50.1')), node, 'host-gw'), '')
  assert.equal(judgePeer(rec('10.244.2.0-24', hg('192.168.50.12')), node, 'vxlan'), 'backend type "host-gw", this node runs vxlan')
  assert.equal(judgePeer(rec('10.244.7.0-24', hg('192.168.50.1')), node, 'host-gw'), "its PublicIP 192.168.50.1 is this node's, but the subnet is not ours")
  assert.equal(judgePeer(rec('10.99.0.0-24', hg('192.168.50.15')), node, 'host-gw'), 'subnet 10.99.0.0/24 is outside the network 10.244.0.0/16')
  assert.match(String(judgePeer(rec('10.244.5.0-24', hg('1.2.3.4; touch /tmp/x')), node, 'host-gw')), /^PublicIP "1.2.3.4; touch \/tmp\/x" is not a plain IPv4 address/)
})

test("judgePeer: a PublicIPv6 that is this node's counts only where the node routes IPv6", () => {
  const dual: NodeView = {
    ...node,
    cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}'),
    networks: [parseCidr('10.244.0.0/16'), parseCidr('fd44::/56')],
    own: [parseCidr('10.244.1.0/24'), parseCidr('fd44:0:0:1::/64')],
  }
  const r = rec('10.244.6.0-24&fd44:0:0:6::-64', hg('192.168.50.16', 'fd77::11'))
  assert.equal(judgePeer(r, dual, 'host-gw'), "its PublicIPv6 fd77::11 is this node's, but the subnet is not ours")
  assert.notEqual(typeof judgePeer(rec('10.244.6.0-24', hg('192.168.50.16', 'fd77::11')), node, 'host-gw'), 'string')
})
