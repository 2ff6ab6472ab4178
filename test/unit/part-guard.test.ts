// The part lock (issue 13 item 6): a live holder refuses a second copy, a stale one is taken over.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { AlreadyRunning, holdLock, lockPath, look, removeStale } from '../../scripts/lib/core/part-guard.ts'
import { waitFor } from '../helpers/wait.ts'

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

// Issue 13's narrow race: several starters finding the same stale lock at once. Each judged it
// stale; the old takeover (unlink, then create) let a late one remove an early one's fresh lock,
// and both ran. Starters are released together (a line on stdin), then hold what they got.
test('starters racing for one stale lock: exactly one takes it, the others refuse', { timeout: 120_000 }, async () => {
  const { spawn: spawnChild } = await import('node:child_process')
  const guard = new URL('../../scripts/lib/core/part-guard.ts', import.meta.url).pathname
  const code = `import { holdLock, AlreadyRunning } from ${JSON.stringify(guard)}
process.stdout.write('ready\\n')
process.stdin.once('data', () => {
  let r
  try { r = holdLock('weft-race-part', process.argv[2]) ? 'held' : 'none' } catch (e) { r = e instanceof AlreadyRunning ? 'refused' : 'error ' + e.message }
  process.stdout.write(r + '\\n')
  process.stdin.once('data', () => process.exit(0))
})`
  for (let round = 0; round < 4; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'pg-race-'))
    const file = join(dir, 'subnet.env')
    writeFileSync(lockPath('weft-race-part', file), '999999999\n') // stale: no such pid
    const kids = Array.from({ length: 8 }, () => {
      const p = spawnChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, 'weft-race-part', file], { stdio: ['pipe', 'pipe', 'inherit'] })
      const k = { p, out: '' }
      p.stdout!.on('data', (d) => (k.out += d))
      return k
    })
    const lines = (n: number) => () => kids.every((k) => k.out.split('\n').length > n)
    try {
      await waitFor('every starter loaded', lines(1), 60000, 10)
      for (const k of kids) k.p.stdin!.write('go\n')
      await waitFor('every starter to answer', lines(2), 30000, 10)
      const verdicts = kids.map((k) => k.out.split('\n')[1])
      assert.equal(verdicts.filter((v) => v === 'held').length, 1, `round ${round}: ${verdicts.join(', ')}`)
      assert.equal(verdicts.filter((v) => v === 'refused').length, kids.length - 1, `round ${round}: ${verdicts.join(', ')}`)
    } finally {
      for (const k of kids) k.p.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }
})

// The interleaving that made two copies, replayed step by step: B judged the lock stale, then A
// replaced it with its own before B acted. B's removal must leave A's lock alone.
test('a starter acting on an old look at a stale lock does not remove the fresh lock another took meanwhile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-'))
  const file = join(dir, 'subnet.env')
  const path = lockPath('weft-slow-part', file)
  writeFileSync(path, '999999999\n')
  const seenByB = look(path)!
  // A: takes over (the stale one gone, its own lock in place, a new file)
  rmSync(path)
  writeFileSync(path, '424242\n')
  removeStale(path, seenByB, 'weft-slow-part')
  assert.equal(readFileSync(path, 'utf8'), '424242\n', "B removed A's fresh lock")
  // and the stale one itself is removed when it is still there
  rmSync(path)
  writeFileSync(path, '999999999\n')
  removeStale(path, look(path)!, 'weft-slow-part')
  assert.ok(!existsSync(path))
  assert.deepEqual(readdirSync(dir), [], 'no take-over token left behind')
  rmSync(dir, { recursive: true })
})
