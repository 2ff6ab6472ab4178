// weft-doctor's Kubernetes checks on values (doctor/kube.ts): subnet.env against our Node's
// podCIDR, our annotations against what weft-subnet would publish (host-gw: no device to read),
// public-ip-overwrite honoured, NetworkUnavailable, node-public-ip standing for --public-ip; in dual
// stack the 'annotations v6' row (public-ipv6, backend-v6-data null for host-gw) and FLANNEL_IPV6_*.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkAnnotations, checkSubnetEnvKube, annotatedPublicIp } from '../../scripts/lib/doctor/kube.ts'
import type { Desired } from '../../scripts/lib/doctor/desired.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { parseSubnetEnv } from '../../scripts/lib/formats/subnet-env.ts'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'

const P = 'flannel.alpha.coreos.com/'
const GOOD = { [`${P}kube-subnet-manager`]: 'true', [`${P}backend-type`]: 'host-gw', [`${P}backend-data`]: 'null', [`${P}public-ip`]: '192.168.77.11' }
const UP = { conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp' }] }

/** The IPv4 row (the only one without EnableIPv6). */
const annotations = async (d: Desired, ip: string, nu: boolean) => (await checkAnnotations(d, ip, '', nu))[0]

function desired(annotations: Record<string, string>, status: object = UP, subnet = '10.244.1.1/24'): Desired {
  return {
    cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'),
    env: parseSubnetEnv(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n`, 'subnet.env'),
    kube: {
      name: 'node1',
      prefix: P,
      node: { metadata: { name: 'node1', resourceVersion: '7', annotations }, spec: { podCIDR: '10.244.1.0/24' }, status },
      lease: { subnet: parseCidr('10.244.1.0/24') },
    },
  }
}

test('subnet.env: our podCIDR is ok; another subnet is named with both', () => {
  assert.equal(checkSubnetEnvKube('subnet.env', desired(GOOD)).state, 'ok')
  const v = checkSubnetEnvKube('subnet.env', desired(GOOD, UP, '10.244.9.1/24'))
  assert.equal(v.state, 'fail')
  assert.match(v.detail, /FLANNEL_SUBNET 10\.244\.9\.0\/24 is not Node node1's podCIDR 10\.244\.1\.0\/24/)
})

test('annotations: as published is ok; a wrong or missing one is named with the value wanted', async () => {
  const okv = await annotations(desired(GOOD), '192.168.77.11', true)
  assert.equal(okv.state, 'ok', okv.detail)
  const bad = await annotations(desired({ ...GOOD, [`${P}backend-type`]: 'vxlan', [`${P}public-ip`]: '' }), '192.168.77.11', true)
  assert.equal(bad.state, 'fail')
  assert.equal(bad.detail, `Node node1: ${P}backend-type is "vxlan", want "host-gw"; ${P}public-ip is "", want "192.168.77.11"`)
  const { [`${P}kube-subnet-manager`]: _, ...unmanaged } = GOOD
  assert.match((await annotations(desired(unmanaged), '192.168.77.11', true)).detail, /kube-subnet-manager is missing, want "true"/)
})

test('annotations: public-ip-overwrite wins, as weft-subnet publishes it; node-public-ip stands for --public-ip', async () => {
  const ann = { ...GOOD, [`${P}public-ip`]: '203.0.113.5', [`${P}public-ip-overwrite`]: '203.0.113.5' }
  assert.equal((await annotations(desired(ann), '192.168.77.11', true)).state, 'ok')
  assert.equal(annotatedPublicIp(desired({ ...GOOD, [`${P}node-public-ip`]: '192.168.77.99' })), '192.168.77.99')
  assert.equal(annotatedPublicIp(desired({ ...GOOD, [`${P}node-public-ip`]: '$(reboot)' })), '')
})

test('NetworkUnavailable: named unless False/FlannelIsUp, and only with --set-node-network-unavailable', async () => {
  const down = { conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] }
  const v = await annotations(desired(GOOD, down), '192.168.77.11', true)
  assert.equal(v.detail, 'Node node1: condition NetworkUnavailable is True (NoRouteCreated), want False (FlannelIsUp)')
  assert.equal((await annotations(desired(GOOD, down), '192.168.77.11', false)).state, 'ok')
})

const GOOD6 = { ...GOOD, [`${P}backend-v6-data`]: 'null', [`${P}public-ipv6`]: 'fd77::11' }
function dual(annotations: Record<string, string>, env6 = 'FLANNEL_IPV6_NETWORK=fd44::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:1::1/64\n'): Desired {
  const d = desired(annotations)
  d.cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}')
  d.env = parseSubnetEnv(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n${env6}FLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n`, 'subnet.env')
  d.kube!.node.spec = { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd44:0:0:1::/64'] }
  d.kube!.lease = { subnet: parseCidr('10.244.1.0/24'), ipv6Subnet: parseCidr('fd44:0:0:1::/64') }
  return d
}

test('dual stack: an annotations v6 row; public-ipv6 missing or backend-v6-data wrong is named there, not in the IPv4 row', async () => {
  const rows = await checkAnnotations(dual(GOOD6), '192.168.77.11', 'fd77::11', true)
  assert.deepEqual(
    rows.map((r) => [r.check, r.state, r.detail]),
    [
      ['annotations', 'ok', 'Node node1: backend-type host-gw, backend-data null, public-ip 192.168.77.11, as this node publishes them; NetworkUnavailable False (FlannelIsUp)'],
      ['annotations v6', 'ok', 'Node node1: backend-v6-data null, public-ipv6 fd77::11, as this node publishes them'],
    ],
  )
  const { [`${P}public-ipv6`]: _, ...no6 } = GOOD6
  const [v4, v6] = await checkAnnotations(dual({ ...no6, [`${P}backend-v6-data`]: '{"VNI":1}' }), '192.168.77.11', 'fd77::11', true)
  assert.equal(v4.state, 'ok')
  assert.equal(v6.state, 'fail')
  assert.equal(v6.detail, `Node node1: ${P}backend-v6-data is "{\\"VNI\\":1}", want "null"; ${P}public-ipv6 is missing, want "fd77::11"`)
  assert.match(v6.fix, /restart flanneld/)
  // public-ipv6-overwrite wins, as for IPv4; node-public-ipv6 stands for --public-ipv6.
  const over = { ...GOOD6, [`${P}public-ipv6`]: '2001:db8::5', [`${P}public-ipv6-overwrite`]: '2001:db8::5' }
  assert.equal((await checkAnnotations(dual(over), '192.168.77.11', 'fd77::11', true))[1].state, 'ok')
  assert.equal(annotatedPublicIp(dual({ ...GOOD6, [`${P}node-public-ipv6`]: 'fd77::99' }), 6), 'fd77::99')
  // No IPv6 address to publish: weft-subnet would refuse to start; said, with the flag that gives one.
  const none = (await checkAnnotations(dual(GOOD6), '192.168.77.11', '', true))[1]
  assert.equal(none.state, 'fail')
  assert.match(none.detail, /no IPv6 public address to compare flannel\.alpha\.coreos\.com\/public-ipv6 with/)
  assert.match(none.fix, /--public-ipv6/)
  // Without EnableIPv6 the v6 annotations are not looked at (one row).
  assert.equal((await checkAnnotations(desired(GOOD), '192.168.77.11', 'fd77::11', true)).length, 1)
})

test('dual stack: subnet.env FLANNEL_IPV6_SUBNET and FLANNEL_IPV6_NETWORK against the IPv6 podCIDR and net-conf.json', () => {
  const okv = checkSubnetEnvKube('subnet.env', dual(GOOD6))
  assert.equal(okv.state, 'ok', okv.detail)
  const v = checkSubnetEnvKube('subnet.env', dual(GOOD6, 'FLANNEL_IPV6_NETWORK=fd45::/56\nFLANNEL_IPV6_SUBNET=fd44:0:0:9::1/64\n'))
  assert.equal(v.state, 'fail')
  assert.equal(
    v.detail,
    "subnet.env: FLANNEL_IPV6_NETWORK fd45::/56 but net-conf.json says fd44::/56; FLANNEL_IPV6_SUBNET fd44:0:0:9::/64 is not Node node1's IPv6 podCIDR fd44:0:0:1::/64",
  )
  assert.match(checkSubnetEnvKube('subnet.env', dual(GOOD6, '')).detail, /FLANNEL_IPV6_SUBNET \(none\) is not Node node1's IPv6 podCIDR/)
})
