// The running config's re-check (issue 13 item 5, while running): what counts as a change, and
// the verdict said for each kind of read.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { configChange, judgeConfig } from '../../scripts/lib/subnet/config-recheck.ts'

const running = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}')

test('the same config written differently is no change; a changed field is named with both values', () => {
  assert.equal(configChange(running, parseNetworkConfig('{ "network" : "10.244.0.0/16", "backend": {"type":"vxlan"} }')), '')
  assert.equal(
    configChange(running, parseNetworkConfig('{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan","VNI":2}}')),
    'Network 10.244.0.0/16 -> 10.245.0.0/16; Backend vxlan VNI 1 Port 0 MTU 0 GBP false Learning false DirectRouting false -> vxlan VNI 2 Port 0 MTU 0 GBP false Learning false DirectRouting false',
  )
})

test('verdicts: unreachable says nothing new, a problem or a change is named, the running config is ready', () => {
  assert.equal(judgeConfig(running, { unreachable: 'refused' }), null)
  assert.equal(judgeConfig(running, { cfg: running }), undefined)
  assert.match(
    judgeConfig(running, { problem: 'invalid network config: not JSON' })!,
    /^the network config changed to one weft cannot run \(invalid network config: not JSON\); keeping the running one/,
  )
  assert.match(
    judgeConfig(running, { cfg: parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}') })!,
    /^the network config changed \(Backend vxlan VNI 1 .* -> host-gw\); weft applies a changed config only at a restart of flanneld/,
  )
})
