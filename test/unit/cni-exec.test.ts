// Running a delegate: the fast spawn_sync path and the child_process fallback give the same answers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, chmodSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execPlugin, findPlugin, portableSpawnSync } from '../../scripts/lib/cni/exec.ts'

const dir = mkdtempSync(join(tmpdir(), 'cni-exec-'))
const script = join(dir, 'fake')
// echoes its stdin and CNI_COMMAND, writes to stderr, exits with the code in $EXIT
writeFileSync(script, '#!/bin/sh\nprintf "%s:" "$CNI_COMMAND"; cat; echo "err" >&2; exit ${EXIT:-0}\n')
chmodSync(script, 0o755)
test.after(() => rmSync(dir, { recursive: true, force: true }))

test('fast path: stdin in, stdout/stderr/exit code out, CNI_COMMAND set, overrides applied', async () => {
  const r = await execPlugin(script, 'ADD', '{"a":1}', { EXIT: '3' })
  assert.deepEqual(r, { code: 3, stdout: 'ADD:{"a":1}', stderr: 'err\n' })
})

test('fallback (child_process) gives the same result', async () => {
  const r = await portableSpawnSync(script, { ...process.env, CNI_COMMAND: 'DEL', EXIT: '0' }, 'x')
  assert.deepEqual([r.status, r.stdout.toString(), r.stderr.toString()], [0, 'DEL:x', 'err\n'])
})

test('a file that cannot be executed is an error, not a hang', async () => {
  const plain = join(dir, 'plain')
  writeFileSync(plain, 'not a program')
  await assert.rejects(() => execPlugin(plain, 'ADD', ''), { message: `fork/exec ${plain}: permission denied` })
  const r = await portableSpawnSync(plain, process.env, '')
  assert.equal(r.error?.message, `fork/exec ${plain}: permission denied`)
})

test('findPlugin: first regular file in CNI_PATH order; Go-lib errors', () => {
  const a = join(dir, 'a')
  const b = join(dir, 'b')
  mkdirSync(a)
  mkdirSync(b)
  mkdirSync(join(a, 'bridge')) // a directory is not a plugin
  writeFileSync(join(b, 'bridge'), '')
  assert.equal(findPlugin('bridge', `${a}:${b}`), join(b, 'bridge'))
  assert.throws(() => findPlugin('nope', `${a}:${b}`), { message: `failed to find plugin "nope" in path [${a} ${b}]` })
  assert.throws(() => findPlugin('bridge', ''), { message: 'no paths provided' })
  assert.throws(() => findPlugin('', a), { message: 'no plugin name provided' })
  assert.throws(() => findPlugin('../b/bridge', a), /invalid plugin name/)
})
