// What the node needs beside routes (routes/conditions.ts): forwarding, bridge-nf-call-iptables,
// one MTU from the interface to the pods; read from a fake /proc and /sys. The `condition` event
// that carries them to flanneld, and the weft_node_condition gauge it moves (node-health.ts),
// judged by promtool.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bridgeNfOff, mtuProblems, nodeConditions, type Sys } from '../../scripts/lib/routes/conditions.ts'
import { parseEvent } from '../../scripts/lib/daemon/events.ts'
import { NodeHealth } from '../../scripts/lib/daemon/node-health.ts'
import { parseBackend } from '../../scripts/lib/formats/backend.ts'

const ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'

function fakeSys(files: Record<string, string>): Sys {
  return {
    read: (p) => {
      if (!(p in files)) throw new Error(`ENOENT: ${p}`)
      return files[p]
    },
    exists: (p) => p in files || Object.keys(files).some((f) => f.startsWith(`${p}/`)),
  }
}

function healthy(): Record<string, string> {
  return {
    '/proc/sys/net/ipv4/ip_forward': '1\n',
    '/proc/sys/net/bridge/bridge-nf-call-iptables': '1\n',
    '/sys/class/net/eth0/mtu': '1500\n',
    '/sys/class/net/cni0/mtu': '1450\n',
    '/run/flannel/subnet.env': ENV,
  }
}
const node = { families: [4 as const], iface: 'eth0', backend: parseBackend({ Type: 'vxlan' }), subnetFile: '/run/flannel/subnet.env' }

test('a healthy node: every condition holds, none has a reason', () => {
  assert.deepEqual(nodeConditions(node, fakeSys(healthy())), [
    { kind: 'forwarding', ok: true, reason: '' },
    { kind: 'bridge_nf_call_iptables', ok: true, reason: '' },
    { kind: 'mtu', ok: true, reason: '' },
  ])
})

test('bridge-nf-call-iptables off is named with its fix; br_netfilter not loaded is not a failure', () => {
  const f = healthy()
  f['/proc/sys/net/bridge/bridge-nf-call-iptables'] = '0\n'
  const c = nodeConditions(node, fakeSys(f)).find((x) => x.kind === 'bridge_nf_call_iptables')!
  assert.deepEqual(c, {
    kind: 'bridge_nf_call_iptables',
    ok: false,
    reason: 'net.bridge.bridge-nf-call-iptables=0: bridged pod traffic skips iptables (Services break); sysctl -w net.bridge.bridge-nf-call-iptables=1',
  })
  delete f['/proc/sys/net/bridge/bridge-nf-call-iptables']
  assert.equal(bridgeNfOff(false, fakeSys(f)), undefined, 'no /proc/sys/net/bridge: module not loaded')
  assert.equal(nodeConditions(node, fakeSys(f))[1].ok, true)
  // IPv6: the ip6tables twin is read too; an unreadable key counts as off.
  assert.deepEqual(bridgeNfOff(true, fakeSys({ '/proc/sys/net/bridge/bridge-nf-call-iptables': '1\n' })), ['net.bridge.bridge-nf-call-ip6tables'])
})

test('MTU: the interface lowered under FLANNEL_MTU, or the bridge above it, is named with both numbers', () => {
  const f = healthy()
  f['/sys/class/net/eth0/mtu'] = '1400\n'
  const c = nodeConditions(node, fakeSys(f)).find((x) => x.kind === 'mtu')!
  assert.equal(c.ok, false)
  assert.equal(
    c.reason,
    "MTU mismatch: FLANNEL_MTU is 1450, want 1350 for eth0's MTU 1400; cni0 MTU 1450 is above 1350: pods send packets the path cannot carry; restart flanneld (rewrites FLANNEL_MTU)",
  )
  assert.deepEqual(mtuProblems({ iface: 'eth0', ifaceMtu: 1500, want: 1450, envMtu: 1450, bridge: { name: 'cni0', mtu: 1500 } }), [
    'cni0 MTU 1500 is above 1450: pods send packets the path cannot carry',
  ])
  // Nothing to judge without subnet.env or the interface: that is readiness's and the doctor's to say.
  delete f['/run/flannel/subnet.env']
  assert.equal(nodeConditions(node, fakeSys(f))[2].ok, true)
})

test('the condition event: parsed with its kind checked; it moves weft_node_condition, which promtool accepts', () => {
  const ev = { event: 'condition', kind: 'mtu', ok: false, reason: 'MTU mismatch: x' }
  assert.deepEqual(parseEvent(JSON.stringify(ev)), ev)
  assert.match((parseEvent(JSON.stringify({ ...ev, kind: 'dns' })) as { invalid: string }).invalid, /condition: unknown kind "dns"/)
  assert.match((parseEvent(JSON.stringify({ ...ev, ok: 'no' })) as { invalid: string }).invalid, /field ok must be a boolean/)
  const dir = mkdtempSync(join(tmpdir(), 'weft-cond-'))
  try {
    const file = join(dir, 'subnet.env')
    writeFileSync(file, ENV)
    const h = new NodeHealth(file, 'v0')
    h.event('weft-routes', { event: 'condition', kind: 'mtu', ok: false, reason: 'MTU mismatch: x' })
    h.event('weft-routes', { event: 'condition', kind: 'forwarding', ok: true, reason: '' })
    const text = h.metricsText()
    assert.match(text, /^weft_node_condition\{condition="mtu"\} 0$/m)
    assert.match(text, /^weft_node_condition\{condition="forwarding"\} 1$/m)
    h.event('weft-routes', { event: 'condition', kind: 'mtu', ok: true, reason: '' })
    assert.match(h.metricsText(), /^weft_node_condition\{condition="mtu"\} 1$/m)
    const p = spawnSync('promtool', ['check', 'metrics'], { input: h.metricsText(), encoding: 'utf8' })
    if (p.error) return // promtool missing: the e2e health test requires it
    assert.equal(p.status, 0, p.stdout + p.stderr)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
