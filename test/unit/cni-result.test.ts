// The delegate's result re-printed in its own version's Go format (reference/cni.md 1.4 step 11).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatResult } from '../../scripts/lib/cni/result.ts'

const bridge040 = (v: string) =>
  JSON.stringify({
    cniVersion: v,
    interfaces: [
      { name: 'cni0', mac: 'aa:bb:cc:dd:ee:ff' },
      { name: 'veth1', mac: '11:22:33:44:55:66' },
      { name: 'eth0', mac: '22:22:22:22:22:22', sandbox: '/run/netns/p' },
    ],
    ips: [{ version: '4', interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }],
    routes: [{ dst: '10.244.0.0/16' }, { gw: '10.244.1.1', dst: '0.0.0.0/0' }],
    dns: {},
    extra: 'dropped',
  })

test('0.3.1/0.4.0: struct order, dns {} always printed, unknown fields dropped, 4-space indent, no newline', () => {
  const out = formatResult(bridge040('0.4.0'), '0.4.0')
  assert.equal(
    out,
    `{
    "cniVersion": "0.4.0",
    "interfaces": [
        {
            "name": "cni0",
            "mac": "aa:bb:cc:dd:ee:ff"
        },
        {
            "name": "veth1",
            "mac": "11:22:33:44:55:66"
        },
        {
            "name": "eth0",
            "mac": "22:22:22:22:22:22",
            "sandbox": "/run/netns/p"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 2,
            "address": "10.244.1.2/24",
            "gateway": "10.244.1.1"
        }
    ],
    "routes": [
        {
            "dst": "10.244.0.0/16"
        },
        {
            "dst": "0.0.0.0/0",
            "gw": "10.244.1.1"
        }
    ],
    "dns": {}
}`,
  )
})

test('1.0.0: keys sorted at every level, empty dns dropped, no ips[].version', () => {
  const r = JSON.parse(bridge040('1.0.0'))
  for (const ip of r.ips) delete ip.version
  r.dns = {}
  const out = formatResult(JSON.stringify(r), '1.0.0')
  assert.equal(
    out,
    `{
    "cniVersion": "1.0.0",
    "interfaces": [
        {
            "mac": "aa:bb:cc:dd:ee:ff",
            "name": "cni0"
        },
        {
            "mac": "11:22:33:44:55:66",
            "name": "veth1"
        },
        {
            "mac": "22:22:22:22:22:22",
            "name": "eth0",
            "sandbox": "/run/netns/p"
        }
    ],
    "ips": [
        {
            "address": "10.244.1.2/24",
            "gateway": "10.244.1.1",
            "interface": 2
        }
    ],
    "routes": [
        {
            "dst": "10.244.0.0/16"
        },
        {
            "dst": "0.0.0.0/0",
            "gw": "10.244.1.1"
        }
    ]
}`,
  )
  r.dns = { search: ['a'], nameservers: ['10.96.0.10'] }
  assert.match(formatResult(JSON.stringify(r), '1.0.0'), /"dns": \{\n {8}"nameservers": \[\n {12}"10.96.0.10"\n {8}\],\n {8}"search": \[/)
})

test('0.2.0: ip4/ip6 with ip, gateway, routes; dns always', () => {
  const out = formatResult(JSON.stringify({ cniVersion: '0.2.0', ip4: { ip: '10.244.1.2/24', gateway: '10.244.1.1', routes: [{ dst: '10.244.0.0/16' }] } }), '0.2.0')
  assert.equal(
    out,
    '{\n    "cniVersion": "0.2.0",\n    "ip4": {\n        "ip": "10.244.1.2/24",\n        "gateway": "10.244.1.1",\n        "routes": [\n            {\n                "dst": "10.244.0.0/16"\n            }\n        ]\n    },\n    "dns": {}\n}',
  )
})

test('no cniVersion in the result: the config version picks the format; bad versions and JSON fail', () => {
  const r = JSON.parse(bridge040('0.3.1'))
  delete r.cniVersion
  assert.match(formatResult(JSON.stringify(r), '0.3.1'), /^\{\n {4}"interfaces"/)
  assert.throws(() => formatResult('{"cniVersion":"9.9.9"}', '0.3.1'), { message: 'unsupported CNI result version "9.9.9"' })
  assert.throws(() => formatResult('nope', '0.3.1'), /^Error: failed to unmarshal raw result/)
})

test('CHECK to bridge: gateway-less routes get the gateway of their family (what bridge installed)', async () => {
  const { withRouteGateways } = await import('../../scripts/lib/cni/result.ts')
  const prev = {
    cniVersion: '1.0.0',
    ips: [
      { address: 'fc00::2/64', gateway: 'fc00::1' },
      { address: '10.244.1.2/24', gateway: '10.244.1.1' },
    ],
    routes: [{ dst: '10.244.0.0/16' }, { dst: 'fc00::/48' }, { dst: '0.0.0.0/0', gw: '10.244.1.9' }],
  }
  assert.deepEqual(withRouteGateways(prev).routes, [
    { dst: '10.244.0.0/16', gw: '10.244.1.1' },
    { dst: 'fc00::/48', gw: 'fc00::1' },
    { dst: '0.0.0.0/0', gw: '10.244.1.9' },
  ])
})
