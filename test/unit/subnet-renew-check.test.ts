// The lease liveness check beside the watch (scripts/lib/subnet/lease-check.ts): the verdict of
// one read, and the periodic loop with a fake read (no etcd) on mocked timers (no real time).
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { judge, startCheck, type CheckHooks } from '../../scripts/lib/subnet/lease-check.ts'
import type { KV } from '../../scripts/lib/registry/etcd/client.ts'

const kv = (modRevision: number): KV => ({ key: '/k', value: 'v', modRevision, createRevision: 1, version: 1, lease: '0' })

test('judge: an absent key is gone, whatever the watch says', () => {
  assert.deepEqual(judge(undefined, 10, 0), { verdict: 'gone', suspect: 0 })
  assert.deepEqual(judge(undefined, undefined, 12), { verdict: 'gone', suspect: 0 })
})

test('judge: a key not newer than what the watch delivered is ok', () => {
  assert.deepEqual(judge(kv(10), 10, 0), { verdict: 'ok', suspect: 0 })
  assert.deepEqual(judge(kv(7), 10, 0), { verdict: 'ok', suspect: 0 })
  assert.deepEqual(judge(kv(10), 10, 10), { verdict: 'ok', suspect: 0 }, 'the suspect revision arrived meanwhile')
})

test('judge: no watch running (reconnecting) is ok: the reconnect resumes from the last revision', () => {
  assert.deepEqual(judge(kv(50), undefined, 0), { verdict: 'ok', suspect: 0 })
  assert.deepEqual(judge(kv(50), undefined, 40), { verdict: 'ok', suspect: 0 })
})

test('judge: a newer key is suspect once (a put on its way), stalled when still undelivered at the next check', () => {
  assert.deepEqual(judge(kv(12), 10, 0), { verdict: 'suspect', suspect: 12 })
  assert.deepEqual(judge(kv(12), 10, 12), { verdict: 'stalled', suspect: 0 })
  assert.deepEqual(judge(kv(15), 11, 12), { verdict: 'stalled', suspect: 0 }, 'moved a little, still short of the suspect')
  assert.deepEqual(judge(kv(15), 12, 12), { verdict: 'suspect', suspect: 15 }, 'the suspect arrived, a newer change is suspect afresh')
})

function hooks(delivered: () => number | undefined) {
  const calls: string[] = []
  const h: CheckHooks = { delivered, gone: () => calls.push('gone'), stalled: (m, d) => calls.push(`stalled ${m} ${d}`) }
  return { h, calls }
}

// startCheck takes its timer from the global setTimeout: node:test's mock.timers drives it, so each
// test says exactly how many periods pass (no race with real time). advance() moves the clock one
// step at a time and lets the fake read's promise settle before the next step, as a real tick would.
async function advance(t: TestContext, ms: number, step = 1): Promise<void> {
  for (let i = 0; i < ms; i += step) {
    t.mock.timers.tick(step)
    for (let j = 0; j < 5; j++) await Promise.resolve()
  }
}
const mockTimers = (t: TestContext) => t.mock.timers.enable({ apis: ['setTimeout'] })

test('startCheck: reports gone on the first read that finds no key, and reads no more after', async (t) => {
  mockTimers(t)
  let reads = 0
  const { h, calls } = hooks(() => 5)
  const stop = startCheck(async () => (++reads >= 3 ? undefined : kv(5)), '/k', 20, h)
  await advance(t, 19)
  assert.equal(reads, 0, 'the first read waits one period')
  await advance(t, 1)
  assert.equal(reads, 1)
  await advance(t, 40)
  assert.equal(reads, 3, 'one read per period')
  assert.deepEqual(calls, ['gone'])
  await advance(t, 200)
  stop()
  assert.deepEqual(calls, ['gone'])
  assert.equal(reads, 3, 'no read after gone')
})

test('startCheck: stalled after two reads of a key newer than the watch, then keeps checking', async (t) => {
  mockTimers(t)
  const { h, calls } = hooks(() => 5)
  let reads = 0
  const stop = startCheck(async () => (reads++, kv(9)), '/k', 20, h)
  await advance(t, 20)
  assert.equal(reads, 1)
  assert.deepEqual(calls, [], 'suspect once: a put may be on its way')
  await advance(t, 20)
  assert.deepEqual(calls, ['stalled 9 5'], 'still undelivered at the next check: stalled')
  await advance(t, 100)
  stop()
  assert.equal(reads, 7)
  assert.ok(calls.every((c) => c === 'stalled 9 5'))
  assert.equal(calls.length, 3, `${calls.length} verdicts for ${reads} reads: each needs two reads`)
})

test('startCheck: failed reads do nothing (the watch reports outages) and it keeps trying', async (t) => {
  mockTimers(t)
  const { h, calls } = hooks(() => 5)
  let reads = 0
  const stop = startCheck(
    async () => {
      reads++
      throw new Error('etcd unreachable')
    },
    '/k',
    20,
    h,
  )
  await advance(t, 60)
  stop()
  assert.deepEqual(calls, [])
  assert.equal(reads, 3)
})

test('startCheck: stop() ends it at once, even with a read in flight (its answer is ignored)', async (t) => {
  mockTimers(t)
  const { h, calls } = hooks(() => 5)
  let reads = 0
  let answer: (v: KV | undefined) => void = () => {}
  const stop = startCheck(() => (reads++, new Promise<KV | undefined>((r) => (answer = r))), '/k', 10, h)
  await advance(t, 40)
  assert.equal(reads, 1, 'one read at a time')
  stop()
  answer(undefined)
  await advance(t, 60)
  assert.deepEqual(calls, [], 'a key gone after stop is not reported')
  assert.equal(reads, 1, 'no read after stop')
})

test('startCheck: a healthy watch gets no verdict over many reads', async (t) => {
  mockTimers(t)
  let rev = 5
  const { h, calls } = hooks(() => rev)
  const stop = startCheck(async () => kv(rev++), '/k', 10, h) // each read sees what the watch already delivered
  await advance(t, 150)
  stop()
  assert.equal(rev, 20, 'fifteen reads')
  assert.deepEqual(calls, [])
})

test('startCheck: no timer survives stop()', async (t) => {
  mockTimers(t)
  const { h } = hooks(() => 5)
  let reads = 0
  const stop = startCheck(async () => (reads++, kv(5)), '/k', 10, h)
  await advance(t, 30)
  stop()
  t.mock.timers.runAll()
  await advance(t, 100)
  assert.equal(reads, 3)
})
