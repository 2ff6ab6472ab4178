// weft-doctor's Kubernetes checks on values (doctor/kube.ts): subnet.env against our Node's
// podCIDR, our annotations against what weft-subnet would publish (host-gw: no device to read),
// public-ip-overwrite honoured, NetworkUnavailable, node-public-ip standing for --public-ip.
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
  const okv = await checkAnnotations(desired(GOOD), '192.168.77.11', true)
  assert.equal(okv.state, 'ok', okv.detail)
  const bad = await checkAnnotations(desired({ ...GOOD, [`${P}backend-type`]: 'vxlan', [`${P}public-ip`]: '' }), '192.168.77.11', true)
  assert.equal(bad.state, 'fail')
  assert.equal(bad.detail, `Node node1: ${P}backend-type is "vxlan", want "host-gw"; ${P}public-ip is "", want "192.168.77.11"`)
  const { [`${P}kube-subnet-manager`]: _, ...unmanaged } = GOOD
  assert.match((await checkAnnotations(desired(unmanaged), '192.168.77.11', true)).detail, /kube-subnet-manager is missing, want "true"/)
})

test('annotations: public-ip-overwrite wins, as weft-subnet publishes it; node-public-ip stands for --public-ip', async () => {
  const ann = { ...GOOD, [`${P}public-ip`]: '203.0.113.5', [`${P}public-ip-overwrite`]: '203.0.113.5' }
  assert.equal((await checkAnnotations(desired(ann), '192.168.77.11', true)).state, 'ok')
  assert.equal(annotatedPublicIp(desired({ ...GOOD, [`${P}node-public-ip`]: '192.168.77.99' })), '192.168.77.99')
  assert.equal(annotatedPublicIp(desired({ ...GOOD, [`${P}node-public-ip`]: '$(reboot)' })), '')
})

test('NetworkUnavailable: named unless False/FlannelIsUp, and only with --set-node-network-unavailable', async () => {
  const down = { conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] }
  const v = await checkAnnotations(desired(GOOD, down), '192.168.77.11', true)
  assert.equal(v.detail, 'Node node1: condition NetworkUnavailable is True (NoRouteCreated), want False (FlannelIsUp)')
  assert.equal((await checkAnnotations(desired(GOOD, down), '192.168.77.11', false)).state, 'ok')
})
