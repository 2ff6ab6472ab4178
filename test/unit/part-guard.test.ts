// The part lock (issue 13 item 6): a live holder refuses a second copy, a stale one is taken over.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { AlreadyRunning, holdLock, lockPath } from '../../scripts/lib/core/part-guard.ts'

test('a lock held by a live copy of the part is refused, naming its pid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-'))
  const file = join(dir, 'subnet.env')
  // a live process whose command line names the part
  const p = spawn(process.execPath, ['-e', 'setTimeout(()=>{}, 60000)', 'weft-fake-part'], { stdio: 'ignore' }) // allow-timer: a child that stays alive until killed, not a wait
  try {
    writeFileSync(lockPath('weft-fake-part', file), `${p.pid}\n`)
    assert.throws(
      () => holdLock('weft-fake-part', file),
      (e: Error) => e instanceof AlreadyRunning && e.message.includes(`weft-fake-part is already running for this node (pid ${p.pid}, lock `),
    )
  } finally {
    p.kill('SIGKILL')
    rmSync(dir, { recursive: true })
  }
})

test('a stale lock (dead pid, or a pid now running something else) is taken over', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-'))
  const file = join(dir, 'subnet.env')
  const path = lockPath('weft-other-part', file)
  for (const stale of ['999999999', String(process.ppid), 'garbage']) {
    writeFileSync(path, `${stale}\n`)
    assert.equal(holdLock('weft-other-part', file), path)
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`)
    rmSync(path)
  }
  rmSync(dir, { recursive: true })
})

test('readers lock only where the run directory exists; the writer makes it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-'))
  const file = join(dir, 'run', 'subnet.env')
  assert.equal(holdLock('weft-reader', file), undefined)
  assert.ok(!existsSync(join(dir, 'run')))
  assert.equal(holdLock('weft-writer', file, true), lockPath('weft-writer', file))
  rmSync(dir, { recursive: true })
})
