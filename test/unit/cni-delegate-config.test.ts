// The delegate config is compared byte for byte with what flannel writes (reference/cni.md 1.4, 1.8).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildDelegateConfig } from '../../scripts/lib/cni/delegate-config.ts'
import { decodeNetConf } from '../../scripts/lib/cni/netconf.ts'
import { parseSubnetEnv } from '../../scripts/lib/formats/subnet-env.ts'

const ENV4 = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'
const DUAL =
  'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n'

function build(conf: string, env = ENV4): string {
  return buildDelegateConfig(decodeNetConf(JSON.parse(conf)), parseSubnetEnv(env, '/run/flannel/subnet.env'))
}

test('D1: the kube-flannel conflist gives the reference bytes', () => {
  assert.equal(
    build('{"cniVersion":"0.3.1","delegate":{"hairpinMode":true,"isDefaultGateway":true},"name":"cbr0","type":"flannel"}'),
    '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}',
  )
})

test('dual stack: one range per family, v4 first; routes for both networks; IPMASQ=false gives ipMasq true', () => {
  assert.equal(
    build('{"cniVersion":"1.0.0","name":"cbr0","type":"flannel"}', DUAL),
    '{"cniVersion":"1.0.0","ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}],[{"subnet":"fc00:0:0:1::/64"}]],"routes":[{"dst":"10.244.0.0/16"},{"dst":"fc00::/48"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}',
  )
})

test('runtimeConfig is copied into the delegate, replacing its own, keys sorted inside', () => {
  assert.equal(
    build('{"cniVersion":"0.4.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":8080,"protocol":"tcp"}]},"delegate":{"runtimeConfig":{"x":1}}}'),
    '{"cniVersion":"0.4.0","ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"n","runtimeConfig":{"portMappings":[{"containerPort":8080,"hostPort":80,"protocol":"tcp"}]},"type":"bridge"}',
  )
  // an empty object is copied as is
  assert.match(build('{"name":"n","runtimeConfig":{}}'), /"runtimeConfig":\{\}/)
})

test('top-level ipam is merged: keys kept, ranges replaced, routes re-serialized in struct order then the networks', () => {
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'n',
    ipam: {
      type: 'host-local',
      dataDir: '/x',
      ranges: [[{ subnet: '1.2.3.0/24' }]],
      routes: [{ scope: 0, table: 100, priority: 5, advmss: 0, mtu: 1400, gw: '10.0.0.1', dst: '10.96.5.1/12', junk: 1 }, { dst: '2001:db8:0::/32' }],
    },
  })
  assert.equal(
    build(conf),
    '{"cniVersion":"1.0.0","ipMasq":false,"ipam":{"dataDir":"/x","ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.96.5.1/12","gw":"10.0.0.1","mtu":1400,"priority":5,"table":100,"scope":0},{"dst":"2001:db8::/32"},{"dst":"10.244.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"n","type":"bridge"}',
  )
})

test('defaults only where the key is absent (even null or false stays), isGateway only for bridge', () => {
  assert.equal(
    build('{"name":"n","delegate":{"type":"bridge","ipMasq":true,"mtu":null,"isGateway":false,"bridge":"cni9"}}'),
    '{"bridge":"cni9","ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isGateway":false,"mtu":null,"name":"n","type":"bridge"}',
  )
  assert.equal(
    build('{"name":"n","delegate":{"type":"ptp"},"ipam":{"type":"static"}}'),
    '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"static"},"mtu":1450,"name":"n","type":"ptp"}',
  )
})

test('cniVersion: the top-level one overrides the delegate own; absent top-level keeps it', () => {
  assert.match(build('{"cniVersion":"1.0.0","name":"n","delegate":{"cniVersion":"0.3.1"}}'), /^\{"cniVersion":"1\.0\.0",/)
  assert.match(build('{"name":"n","delegate":{"cniVersion":"0.3.1"}}'), /^\{"cniVersion":"0\.3\.1",/)
})

test('strings are escaped as Go does (<, >, & as \\u003c...)', () => {
  assert.match(build('{"name":"n","delegate":{"note":"a<b>&c"}}'), /"note":"a\\u003cb\\u003e\\u0026c"/)
})

test('delegate errors in the reference order and wording', () => {
  assert.throws(() => build('{"name":"n","delegate":{"type":3,"name":"x"}}'), { message: "'delegate' dictionary, if present, must have (string) 'type' field" })
  assert.throws(() => build('{"name":"n","delegate":{"name":"x","ipam":{}}}'), { message: "'delegate' dictionary must not have 'name' field, it'll be set by flannel" })
  assert.throws(() => build('{"name":"n","delegate":{"ipam":{}}}'), { message: "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel" })
  assert.throws(() => build('{"name":"n","ipam":{"routes":[{"dst":"10.0.0.0/33"}]}}'), {
    message: 'failed to assemble Delegate IPAM: failed to read IPAM routes: failed to parse ipam.routes: invalid CIDR address: 10.0.0.0/33',
  })
  assert.throws(() => build('{"name":"n","ipam":{"routes":{"dst":"10.0.0.0/8"}}}'), /failed to parse ipam.routes: json: cannot unmarshal object/)
})

test('NetConf decode: wrong types fail with Go text, null is absent', () => {
  assert.throws(() => decodeNetConf({ name: 'n', delegate: 'x' }), {
    message: 'json: cannot unmarshal string into Go struct field NetConf.delegate of type map[string]interface {}',
  })
  assert.throws(() => decodeNetConf({ name: 'n', dataDir: 5 }), /NetConf.dataDir of type string/)
  const n = decodeNetConf({ name: 'n', subnetFile: null, dataDir: '' })
  assert.equal(n.subnetFile, '/run/flannel/subnet.env')
  assert.equal(n.dataDir, '')
})
