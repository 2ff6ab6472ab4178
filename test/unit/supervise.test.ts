// lib/daemon/supervise.ts Part, with real child processes. A spawn that fails outright must still be
// restarted with backoff, and stop() must cancel that restart. Node reports such failures two
// ways: E2BIG (an environment value over the kernel's 128 KiB limit for one string) throws from
// spawn(); ENOENT (no such program) emits 'error' and never 'exit'. Both are tested.
// The backoff timer is the global setTimeout: node:test's mock.timers drives it, so "restarts after
// 1 s, then after 2 s, never after stop()" is checked exactly, without waiting in real time.
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { Part } from '../../scripts/lib/daemon/supervise.ts'
import { waitFor, within } from '../helpers/wait.ts'
import { withLog } from '../helpers/log.ts'

// Part logs through lib/core/log.ts; test/helpers/log.ts catches its lines through the log sink.
const mockTimers = (t: TestContext) => t.mock.timers.enable({ apis: ['setTimeout'] })

test('a part whose spawn fails (E2BIG) is restarted with backoff, and stop() cancels the next try', async (t) => {
  mockTimers(t)
  await withLog(async (lines) => {
    const stops: string[] = []
    const p = new Part({ name: 'weft-nothing', args: [], env: { WEFT_TEST_HUGE: 'x'.repeat(200_000) } }, (why) => stops.push(why))
    p.start()
    const failures = () => lines.filter((l) => /weft-nothing could not start: .*E2BIG/.test(l))
    await waitFor('the first failure', () => failures().length >= 1, 5000)
    assert.match(failures()[0] ?? '', /restarting in 1s/, lines.join(''))
    t.mock.timers.tick(999)
    assert.equal(failures().length, 1, 'no retry before 1 s')
    t.mock.timers.tick(1)
    await waitFor('the second failure', () => failures().length >= 2, 5000)
    assert.match(failures()[1], /restarting in 2s/)
    t.mock.timers.tick(1999)
    assert.equal(failures().length, 2, 'no retry before 2 s more')
    assert.equal(p.running, false)
    await p.stop()
    t.mock.timers.tick(60_000)
    t.mock.timers.runAll()
    assert.equal(failures().length, 2, 'no try after stop()')
    assert.deepEqual(stops, [])
    assert.ok(!lines.some((l) => /started weft-nothing/.test(l)), 'a spawn that failed is not said to have started')
  })
})

test("a part whose program is missing (ENOENT: 'error', never 'exit') is restarted with backoff; stop() returns at once", async (t) => {
  mockTimers(t)
  await withLog(async (lines) => {
    const p = new Part({ name: 'weft-nothing', args: [], command: '/nonexistent/weft-node' }, () => {})
    p.start()
    const failures = () => lines.filter((l) => /weft-nothing could not start: .*ENOENT.*restarting in 1s/.test(l))
    await waitFor('the first failure', () => failures().length >= 1, 5000)
    assert.equal(failures().length, 1, lines.join(''))
    assert.equal(
      await within(
        p.stop().then(() => 'stopped'),
        100,
      ),
      'stopped',
      'stop() does not wait for an exit that never comes',
    )
    t.mock.timers.tick(60_000)
    t.mock.timers.runAll()
    assert.equal(lines.filter((l) => /could not start/.test(l)).length, 1, 'no try after stop()')
  })
})

test('a part that exits is restarted, one that exits 0 with stop-all ends the daemon', async () => {
  await withLog(async (lines) => {
    const stops: string[] = []
    // bundlePath() is beside process.argv[1]: no such bundle, so node itself exits 1.
    const p = new Part({ name: 'weft-no-such-bundle', args: [] }, (why) => stops.push(why))
    p.start()
    await waitFor('the restart line', () => lines.some((l) => /died \(exit 1\); restarting in 1s/.test(l)), 5000).catch((e) => assert.fail(`${e.message}\n${lines.join('')}`))
    assert.ok(
      lines.some((l) => /started weft-no-such-bundle \(pid \d+\)/.test(l)),
      lines.join(''),
    )
    assert.ok(
      lines.some((l) => /weft-no-such-bundle died \(exit 1\); restarting in 1s/.test(l)),
      lines.join(''),
    )
    await p.stop()
    const q = new Part({ name: 'weft-no-such-bundle', args: [], onExit: () => 'stop-all' }, (why) => stops.push(why))
    q.start()
    await waitFor('stop-all', () => stops.length > 0, 5000)
    assert.deepEqual(stops, ['weft-no-such-bundle exited (code 1)'])
  })
})

test('a part whose heartbeats stop (it stops itself) is killed as hung and restarted; its events reach onEvent typed', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join, relative } = await import('node:path')
  const { bundleDir } = await import('../../scripts/lib/daemon/supervise.ts')
  const dir = mkdtempSync(join(tmpdir(), 'weft-sup-'))
  // Says ready, beats twice, then stops itself as SIGSTOP would (a stopped process never exits alone).
  const child = [
    "const fs = require('fs'); const say = (o) => fs.writeSync(Number(process.env.WEFT_EVENTS_FD), JSON.stringify(o) + '\\n')",
    "say({ event: 'ready', detail: 'up' }); say({ event: 'heartbeat' })",
    "setTimeout(() => { say({ event: 'heartbeat' }); process.kill(process.pid, 'SIGSTOP') }, 100)", // allow-timer: the child's own schedule, not a wait
  ]
  writeFileSync(join(dir, 'part.js'), child.join('\n'))
  try {
    await withLog(async (lines) => {
      const seen: string[] = []
      const life: string[] = []
      const p = new Part(
        { name: relative(bundleDir, join(dir, 'part.js')), args: [], livenessMs: 600, onEvent: (e) => seen.push(e.event), onLifecycle: (w) => life.push(w) },
        () => {},
      )
      p.start()
      await waitFor('the hung part to be started again', () => life.filter((w) => w === 'started').length >= 2, 15_000)
      await p.stop()
      assert.deepEqual(life.slice(0, 4), ['started', 'hung', 'died', 'started'], lines.join(''))
      assert.deepEqual(seen.slice(0, 3), ['ready', 'heartbeat', 'heartbeat'])
      assert.equal(p.restarts >= 1, true)
      assert.ok(
        lines.some((l) => /is hung: no heartbeat for [\d.]+ s; killing it \(SIGKILL\)/.test(l)),
        lines.join(''),
      )
      assert.ok(
        lines.some((l) => /was hung and is killed; restarting in 1s/.test(l)),
        lines.join(''),
      )
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
