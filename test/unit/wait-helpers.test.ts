// test/helpers/wait.ts, the only way tests wait: each helper's failure says what it waited for,
// holdsFor fails as soon as its condition breaks (not at the end of its window), and the helpers
// keep real time while a test mocks the timers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { waitFor, holdsFor, within, activeTimers, timersBackTo } from '../helpers/wait.ts'

test('waitFor: the value once the condition holds; on timeout, what it waited for and the last error', async () => {
  let n = 0
  assert.equal(await waitFor('n to reach 3', () => ++n >= 3 && n, 5000, 1), 3)
  await assert.rejects(
    waitFor('the impossible', () => false, 30, 5),
    /^Error: timed out after 30 ms waiting for the impossible$/,
  )
  await assert.rejects(
    waitFor(
      'a file',
      () => {
        throw new Error('ENOENT')
      },
      30,
      5,
    ),
    /waiting for a file: ENOENT/,
  )
})

test('holdsFor: passes over the whole window; fails at the first look where the condition breaks', async () => {
  const t0 = Date.now()
  let looks = 0
  await holdsFor('always', () => ++looks, 120, 10)
  assert.ok(Date.now() - t0 >= 120, 'the window is not cut short')
  assert.ok(looks >= 2, `looked ${looks} times`)
  const t1 = Date.now()
  let k = 0
  await assert.rejects(
    holdsFor('k below 3', () => ++k < 3, 10_000, 5),
    /^Error: k below 3: stopped holding after \d+ ms of 10000$/,
  )
  assert.ok(Date.now() - t1 < 5000, 'failed at the break, not at the end of the window')
  await assert.rejects(
    holdsFor('routes unchanged', () => assert.deepEqual(['a'], ['b']), 1000),
    /routes unchanged: stopped holding after \d+ ms of 1000: Expected values to be strictly deep-equal/,
  )
})

test('within: the value if in time, else a marker; its own timer is cleared either way', async () => {
  const base = activeTimers()
  assert.equal(await within(Promise.resolve(7), 10_000), 7)
  assert.equal(activeTimers(), base)
  assert.equal(await within(new Promise(() => {}), 20), 'still running after 20 ms')
  await timersBackTo(base, 1000)
})

test('the helpers keep real time while the test mocks setTimeout', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  let fired = false
  setTimeout(() => (fired = true), 1000) // allow-timer: the mocked timer this test is about
  let n = 0
  assert.equal(await waitFor('three real looks', () => ++n >= 3, 5000, 5), true)
  await holdsFor('the mocked timer not fired', () => !fired, 30, 5)
  t.mock.timers.tick(1000)
  assert.equal(fired, true)
})
