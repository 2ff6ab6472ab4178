// Configs flannel takes and weft cannot run (issue 13 item 5), each refused by name.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { checkUsable } from '../../scripts/lib/formats/net-conf-usable.ts'

const usable = (json: string) => checkUsable(parseNetworkConfig(json))
const refused: [string, string, RegExp][] = [
  [
    'Backend omitted (flannel: udp)',
    '{"Network":"10.244.0.0/16"}',
    /backend type "udp" \(no Backend given: flannel then uses udp\) is not supported by weft: use "host-gw" or "vxlan"/,
  ],
  ['udp', '{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}', /backend type "udp" is not supported/],
  ['wireguard', '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}', /"wireguard" is not supported/],
  ['ipip', '{"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}}', /"ipip" is not supported/],
  ['Network 0.0.0.0/0', '{"Network":"0.0.0.0/0","SubnetLen":24,"Backend":{"Type":"host-gw"}}', /0\.0\.0\.0\/0 is every address/],
  ['Network loopback', '{"Network":"127.0.0.0/16","Backend":{"Type":"host-gw"}}', /overlaps 127\.0\.0\.0\/8 \(loopback\)/],
  ['Network containing loopback', '{"Network":"96.0.0.0/3","SubnetLen":24,"Backend":{"Type":"host-gw"}}', /loopback/],
  ['Network multicast', '{"Network":"224.1.0.0/16","Backend":{"Type":"host-gw"}}', /\(multicast\)/],
  ['Network link-local', '{"Network":"169.254.0.0/16","Backend":{"Type":"host-gw"}}', /\(link-local\)/],
  [
    'IPv6Network link-local',
    '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fe80::/48","Backend":{"Type":"host-gw"}}',
    /IPv6Network fe80::\/48 overlaps fe80::\/10 \(link-local\)/,
  ],
  ['IPv6Network multicast', '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"ff00::/48","Backend":{"Type":"host-gw"}}', /multicast/],
  [
    'IPv6-only',
    '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}',
    /IPv6-only \(EnableIPv4 false\) is not supported by weft yet: use dual stack \(EnableIPv4 with Network, and EnableIPv6 with IPv6Network\)/,
  ],
  ['vxlan VNI -1', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":-1}}', /Backend\.VNI must be an integer from 0 to 16777215, got -1/],
  ['vxlan VNI 2^24', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}', /Backend\.VNI/],
  ['vxlan Port 99999', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","Port":99999}}', /Backend\.Port must be an integer from 0 to 65535, got 99999/],
  ['vxlan MTU -1', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":-1}}', /Backend\.MTU must be an integer from 68 to 65535, got -1/],
  ['vxlan MTU 40', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":40}}', /Backend\.MTU/],
  ['vxlan VNI "1"', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","vni":"1"}}', /Backend\.VNI .* got "1"/],
  ['vxlan DirectRouting "yes"', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":"yes"}}', /Backend\.DirectRouting must be true or false/],
]
for (const [name, json, msg] of refused) {
  test(`refused: ${name}`, () => assert.throws(() => usable(json), msg))
}

test('usable: host-gw, vxlan with flannel defaults and with every field set, dual stack', () => {
  for (const j of [
    '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"VXLAN"}}',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":0,"Port":0,"MTU":0,"GBP":false,"Learning":false,"DirectRouting":true}}',
    '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777215,"Port":4789,"MTU":9000}}',
    '{"Network":"100.64.0.0/10","EnableIPv6":true,"IPv6Network":"fd00::/48","Backend":{"Type":"host-gw"}}',
  ])
    assert.doesNotThrow(() => usable(j), j)
})
