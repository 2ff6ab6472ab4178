// weft-doctor with EnableNFTables (issue 12 point 1): the masquerade check compares the kernel's
// table ip flannel-ipv4 with the masquerade installer's own plan (tableBody, fully-random probed
// as the installer probes it), rule by rule and in order, not only that the table exists. A
// flushed chain and a moved rule are named; the installer's table put back is healthy again.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { runDoctor } from '../../scripts/lib/lab/doctor.ts'
import { readyz } from '../../scripts/lib/lab/probe.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), nftables: true })
const FLAGS = ['--healthz-port=8081', '--healthz-ip=127.0.0.1']
type Check = { check: string; state: string; detail: string; fix: string }

async function masquerade(health = true): Promise<{ code: number; masq: Check; text: string }> {
  const r = await runDoctor(lab, lab.nodes[0], ['--json'], { health })
  assert.ok(r.stdout.startsWith('{'), `doctor printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`)
  const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks
  return { code: r.code, masq: checks.find((c) => c.check === 'masquerade')!, text: r.stdout }
}
const nft = (...args: string[]) => run(['ip', 'netns', 'exec', lab.nodes[0].ns, 'nft', ...args])

before(async () => {
  await lab.cluster(1, { args: () => FLAGS })
  await lab.until('node1 ready', async () => (await readyz(lab.nodes[0].ns)).ready, 30000)
})
after(() => lab.down())

test('EnableNFTables, healthy: the table matches the installer plan rule for rule, exit 0', async () => {
  const d = await masquerade()
  assert.equal(d.code, 0, d.text)
  assert.equal(d.masq.state, 'ok')
  assert.equal(d.masq.detail, 'nftables flannel-ipv4: postrtg and forward complete and in order (fully-random on)')
})

test('a flushed chain and a moved rule (weft-masq stopped with flanneld) are named; the table put back is ok', async () => {
  const n = lab.nodes[0]
  const pod = lab.subnetOf(n).replace(/\.1\//, '.0/')
  const saved = (await nft('list', 'table', 'ip', 'flannel-ipv4')).stdout
  await lab.stopFlanneld(n)
  try {
    await nft('flush', 'chain', 'ip', 'flannel-ipv4', 'postrtg')
    const flushed = await masquerade(false)
    assert.equal(flushed.code, 1)
    assert.equal(flushed.masq.state, 'fail')
    assert.ok(
      flushed.masq.detail.startsWith(`nft ip flannel-ipv4: missing: meta mark 0x4000 return; nft ip flannel-ipv4: missing: ip saddr ${pod} ip daddr 10.244.0.0/16 return; `),
      flushed.masq.detail,
    )
    assert.match(flushed.masq.fix, /restart flanneld/)

    // The installer's own table back (as listed before): nothing to name.
    await run(['ip', 'netns', 'exec', n.ns, 'nft', '-f', '-'], { input: `delete table ip flannel-ipv4\n${saved}` })
    assert.equal((await masquerade(false)).masq.state, 'ok')

    // The mark rule moved from first to last: the same rules, in the wrong order.
    const handle = /meta mark 0x00004000 return # handle (\d+)/.exec((await nft('-a', 'list', 'chain', 'ip', 'flannel-ipv4', 'postrtg')).stdout)![1]
    await nft('delete', 'rule', 'ip', 'flannel-ipv4', 'postrtg', 'handle', handle)
    await nft('add', 'rule', 'ip', 'flannel-ipv4', 'postrtg', 'meta', 'mark', '0x4000', 'return')
    const moved = await masquerade(false)
    assert.equal(moved.code, 1)
    assert.equal(moved.masq.detail, `nft ip flannel-ipv4: rules out of order: "ip saddr ${pod} ip daddr 10.244.0.0/16 return" where "meta mark 0x4000 return" belongs`)
  } finally {
    lab.startFlanneld(n, FLAGS)
  }
  // Under load a restarted part can take a while: say why the node is not ready if it never gets there.
  await lab.until('ready again', async () => (await readyz(n.ns)).ready, 60000).catch(async (e) => Promise.reject(new Error(`${e.message}: ${(await readyz(n.ns)).reason}`)))
  const back = await masquerade()
  assert.equal(back.code, 0, back.text)
})
