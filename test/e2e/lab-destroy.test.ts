// weft-lab --destroy signals only processes still inside the lab's own namespaces: a pid saved in
// the manifest may belong to any process of the host once the lab's died (or after a reboot), and
// /tmp/weft-lab-<id>/manifest.json is writable by whoever made the directory first.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { Scope, sh, must, dist, waitFor } from '../helpers/scope.ts'

const scope = new Scope()
after(() => scope.close())

test("--destroy kills the lab namespace's process, never a reused pid outside the lab", async () => {
  const id = `rv${randomBytes(4).toString('hex')}`
  const dir = `/tmp/weft-lab-${id}`
  const ns = `wl-${id}-n1`
  mkdirSync(dir)
  must(['ip', 'netns', 'add', ns])
  scope.onClose(() => {
    if (
      sh(['ip', 'netns', 'list'])
        .stdout.split('\n')
        .some((l) => l.split(' ')[0] === ns)
    )
      sh(['ip', 'netns', 'del', ns])
    rmSync(dir, { recursive: true, force: true })
  })
  // An innocent process of the host (no network use), standing in for whatever got a reused pid.
  const bystander = scope.spawn(['sleep', '300'])
  const inLab = scope.spawn(['sleep', '300'], { netns: ns }) // ip netns exec execs sleep: same pid
  await waitFor('sleep inside the lab namespace', () => sh(['ip', 'netns', 'identify', String(inLab.pid)]).stdout.trim() === ns)
  writeFileSync(`${dir}/manifest.json`, JSON.stringify({ namespaces: [ns], pids: [bystander.pid, inLab.pid] }) + '\n')

  const r = sh([process.execPath, dist('weft-lab'), '--destroy', id])
  assert.equal(r.code, 0, r.stderr)
  await waitFor('the lab process to end', () => inLab.exitCode !== null || inLab.signalCode !== null)
  assert.equal(bystander.exitCode, null, 'the bystander was not signalled')
  assert.equal(bystander.signalCode, null, 'the bystander was not signalled')
  assert.equal(
    sh(['ip', 'netns', 'list'])
      .stdout.split('\n')
      .some((l) => l.split(' ')[0] === ns),
    false,
    'lab namespace removed',
  )
  assert.equal(existsSync(dir), false, 'lab directory removed')
})
