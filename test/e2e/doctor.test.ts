// weft-doctor on a 2-node lab (issue 12 points 1, 3 and 5): healthy is exit 0; each way a node
// breaks (a sysctl off in the node's namespace, a wrong MTU, a part stopped, subnet.env removed,
// flanneld gone, a route deleted, a rule flushed) is named by the right check, with the command
// that fixes it, and exit 1; running that command makes the check pass again. A sysctl off and a
// wrong MTU also turn /readyz 503 with the reason and weft_node_condition to 0, and back after repair.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { runDoctor } from '../../scripts/lib/lab/doctor.ts'
import { probe, readyz, sample } from '../../scripts/lib/lab/probe.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist') })
// A long liveness timeout: the doctor must see a stopped part before flanneld replaces it.
const FLAGS = ['--healthz-port=8081', '--healthz-ip=127.0.0.1', '--part-liveness-timeout=60']
type Check = { check: string; state: string; detail: string; fix: string }

async function doctor(i = 0, extra: string[] = [], health = true): Promise<{ code: number; checks: Map<string, Check>; text: string }> {
  const r = await runDoctor(lab, lab.nodes[i], ['--json', ...extra], { health })
  assert.ok(r.stdout.startsWith('{'), `doctor printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`)
  const j = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] }
  assert.equal(j.ok, r.code === 0)
  return { code: r.code, checks: new Map(j.checks.map((c) => [c.check, c])), text: r.stdout }
}
const failing = (d: { checks: Map<string, Check> }) => [...d.checks.values()].filter((c) => c.state === 'fail').map((c) => c.check)
const inNode = (argv: string[], i = 0) => run(['ip', 'netns', 'exec', lab.nodes[i].ns, ...argv])
/** The doctor's fix, run on the node as an operator would paste it (ours never need a shell). */
const runFix = (fix: string, i = 0) => inNode(['bash', '-c', fix.replace(/ \(.*\)$/, '').replace(/^weft-routes /, `${process.execPath} ${join(root, 'dist', 'weft-routes')} `)], i)

before(async () => {
  await lab.cluster(2, { args: () => FLAGS })
  for (const n of lab.nodes) await lab.until(`${n.name} ready`, async () => (await readyz(n.ns)).ready, 30000)
})
after(() => lab.down())

test('a healthy node: exit 0, every check ok, the table names each check', async () => {
  const d = await doctor()
  assert.deepEqual(failing(d), [], d.text)
  for (const c of ['processes', 'readiness', 'registry', 'subnet.env', 'lease', 'routes', 'masquerade', 'cni config', 'forwarding', 'br_netfilter', 'mtu'])
    assert.equal(d.checks.get(c)?.state, 'ok', `${c}: ${d.text}`)
  assert.equal(d.code, 0)
  const t = await runDoctor(lab, lab.nodes[0])
  assert.equal(t.code, 0)
  assert.match(t.stdout, /^CHECK +STATE +DETAIL \/ FIX$/m)
  assert.match(t.stdout, /^lease +ok +\/coreos\.com\/network\/subnets\/10\.244\.\d+\.0-24: 23 h \d+ min left/m)
})

test('usage: -h on stdout exit 0; a bad flag or value is one line on stderr, exit 2', async () => {
  const h = await runDoctor(lab, lab.nodes[0], ['--help'])
  assert.equal(h.code, 0)
  assert.match(h.stdout, /weft-doctor \[flanneld flags\]/)
  for (const [bad, why] of [
    ['--no-such', /^weft-doctor: flag provided but not defined: -no-such\n$/],
    ['--public-ip=10.0.0.300', /^weft-doctor: --public-ip: invalid IP address: 10\.0\.0\.300\n$/],
    ['--subnet-lease-renew-margin=0', /^weft-doctor: --subnet-lease-renew-margin=0: must be from 1 to 1439 minutes\n$/],
    ['stray', /^weft-doctor: unexpected argument "stray"\n$/],
  ] as const) {
    const r = await runDoctor(lab, lab.nodes[0], [bad])
    assert.equal(r.code, 2, bad)
    assert.match(r.stderr, why)
    assert.equal(r.stdout, '')
  }
})

test('forwarding off inside the node namespace: forwarding fails with its sysctl; /readyz and /metrics say it at the next resync', async () => {
  const ns = lab.nodes[0].ns
  await inNode(['sysctl', '-qw', 'net.ipv4.ip_forward=0'])
  await lab.until('/readyz to name it', async () => /weft-routes is not-ready: forwarding is off \(net\.ipv4\.ip_forward=0\)/.test((await readyz(ns)).reason), 30000)
  assert.equal(sample((await probe(ns, '/metrics')).body, 'weft_part_ready', 'part="weft-routes"'), 0)
  const d = await doctor()
  assert.equal(d.code, 1)
  assert.deepEqual(failing(d), ['readiness', 'forwarding'])
  assert.match(d.checks.get('forwarding')!.detail, /net\.ipv4\.ip_forward is 0/)
  await runFix(d.checks.get('forwarding')!.fix)
  await lab.until('ready again', async () => (await readyz(ns)).ready, 30000)
  assert.equal((await doctor()).code, 0)
})

/** weft_node_condition for one condition, as /metrics has it now. */
const condition = async (kind: string) => sample((await probe(lab.nodes[0].ns, '/metrics')).body, 'weft_node_condition', `condition="${kind}"`)

test('bridge-nf-call-iptables off: /readyz 503 naming it and weft_node_condition 0 within a resync; br_netfilter fails; its fix brings all back', async () => {
  const ns = lab.nodes[0].ns
  assert.equal(await condition('bridge_nf_call_iptables'), 1)
  await inNode(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0'])
  try {
    await lab.until(
      '/readyz to name it',
      async () => /weft-routes is not-ready: net\.bridge\.bridge-nf-call-iptables=0: bridged pod traffic skips iptables/.test((await readyz(ns)).reason),
      30000,
    )
    assert.equal((await readyz(ns)).status, 503)
    assert.equal(await condition('bridge_nf_call_iptables'), 0)
    const d = await doctor()
    assert.deepEqual(failing(d), ['readiness', 'br_netfilter'])
    assert.equal(d.checks.get('br_netfilter')!.fix, 'sysctl -w net.bridge.bridge-nf-call-iptables=1')
    await runFix(d.checks.get('br_netfilter')!.fix)
  } finally {
    await inNode(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1'])
  }
  await lab.until('ready again', async () => (await readyz(ns)).ready, 30000)
  assert.equal(await condition('bridge_nf_call_iptables'), 1)
  assert.equal((await doctor()).code, 0)
})

test('a wrong MTU (external interface lowered under the pods): /readyz and weft_node_condition follow it; mtu fails naming both numbers', async () => {
  const ns = lab.nodes[0].ns
  assert.equal(await condition('mtu'), 1)
  await inNode(['ip', 'link', 'set', 'eth0', 'mtu', '1400'])
  try {
    await lab.until(
      '/readyz to name it',
      async () => /weft-routes is not-ready: MTU mismatch: FLANNEL_MTU is 1500, want 1400 for eth0's MTU 1400/.test((await readyz(ns)).reason),
      30000,
    )
    assert.equal(await condition('mtu'), 0)
    const d = await doctor()
    assert.equal(d.code, 1)
    assert.deepEqual(failing(d), ['readiness', 'mtu'])
    assert.match(d.checks.get('mtu')!.detail, /FLANNEL_MTU is 1500, want 1400 for eth0's MTU 1400; cni0 MTU 1500 is above 1400/)
  } finally {
    await inNode(['ip', 'link', 'set', 'eth0', 'mtu', '1500'])
  }
  await lab.until('ready again', async () => (await readyz(ns)).ready, 30000)
  assert.equal(await condition('mtu'), 1)
  assert.equal((await doctor()).code, 0)
})

test('a part stopped (SIGSTOP): processes fails naming it, and its fix (SIGCONT) clears it', async () => {
  const pid = (await readyz(lab.nodes[0].ns)).parts['weft-masq'].pid!
  process.kill(pid, 'SIGSTOP')
  try {
    const d = await doctor()
    assert.equal(d.code, 1)
    assert.match(d.checks.get('processes')!.detail, new RegExp(`stopped \\(SIGSTOP\\): weft-masq \\(pid ${pid}\\)`))
    assert.equal(d.checks.get('processes')!.fix, `kill -CONT ${pid}`)
  } finally {
    process.kill(pid, 'SIGCONT')
  }
  assert.equal((await doctor()).code, 0)
})

test('subnet.env removed: the running writer puts the same file back at once; with flanneld stopped, the doctor names it', async () => {
  const n = lab.nodes[1]
  const text = readFileSync(n.subnetFile, 'utf8')
  // weft-subnet rewrites a deleted subnet.env at once (issue 13 item 8), so /readyz has no time to
  // turn 503: the node heals itself, and the doctor finds nothing afterwards.
  rmSync(n.subnetFile)
  await lab.until('weft-subnet to write subnet.env again', () => existsSync(n.subnetFile) && readFileSync(n.subnetFile, 'utf8') === text, 10000)
  await lab.until('ready', async () => (await readyz(n.ns)).ready, 10000)
  assert.equal((await doctor(1)).code, 0)
  // With nothing running to rewrite it, a missing subnet.env is what the doctor reports.
  await lab.stopFlanneld(n)
  rmSync(n.subnetFile)
  let d
  try {
    d = await doctor(1, [], false)
  } finally {
    writeFileSync(n.subnetFile, text)
    lab.startFlanneld(n, FLAGS)
  }
  assert.equal(d.code, 1)
  assert.match(d.checks.get('subnet.env')!.detail, /ENOENT/)
  await lab.until('ready again', async () => (await readyz(n.ns)).ready, 30000)
  assert.equal((await doctor(1)).code, 0)
})

test('flanneld stopped: processes fails, the rest still checks; a deleted route and a flushed rule are named; the fixes work', async () => {
  const n = lab.nodes[0]
  await lab.stopFlanneld(n)
  const peer = lab.subnetOf(lab.nodes[1]).replace(/\.1\//, '.0/')
  await run(['ip', '-n', n.ns, 'route', 'del', peer])
  await inNode(['iptables', '-t', 'nat', '-F', 'FLANNEL-POSTRTG'])
  const d = await doctor(0, [], false)
  assert.equal(d.code, 1)
  assert.deepEqual(failing(d).sort(), ['masquerade', 'processes', 'routes'])
  assert.match(d.checks.get('processes')!.detail, /flanneld is not running in this network namespace/)
  assert.match(d.checks.get('routes')!.detail, new RegExp(`1 missing of 1: want: route replace ${peer.replace(/\./g, '\\.')} via 192\\.168\\.77\\.12 dev eth0`))
  assert.match(d.checks.get('masquerade')!.detail, /FLANNEL-POSTRTG/)
  for (const c of ['registry', 'subnet.env', 'lease', 'mtu']) assert.equal(d.checks.get(c)!.state, 'ok', c)
  // The routes fix is a real command: the syncer's one-shot run.
  await runFix(d.checks.get('routes')!.fix)
  assert.equal((await doctor(0, [], false)).checks.get('routes')!.state, 'ok')
  lab.startFlanneld(n, FLAGS)
  await lab.until('ready again', async () => (await readyz(n.ns)).ready, 30000)
  const after = await doctor()
  assert.deepEqual(failing(after), [], after.text)
})
