// The only ways a test waits (test/unit/tests-have-no-fixed-sleeps.test.ts keeps it so):
// - waitFor(what, fn, ms): until fn holds, with a deadline; a timeout names what it waited for.
// - holdsFor(what, fn, ms): fn keeps holding for a whole window (a negative check: "no restart",
//   "routes stay"); it polls and fails the moment fn breaks, instead of sleeping then looking once.
// - within(p, ms): a promise's result, or a marker string if it has not settled by the deadline.
// - untilPrinted(proc, text): a started process said it is ready (a server's "up").
// - timersBackTo(base): no timer outlived the code under test (the count may take a moment to
//   fall: a read in flight at a stop still holds its timeout timer until it finishes).
// Timer-driven code in unit tests runs under node:test's mock.timers instead (see
// test/unit/subnet-renew-check.test.ts); these helpers keep real time even then, because they
// captured the real setTimeout before any test could mock it.
import { pause, untilPrinted, waitFor, within } from '../../scripts/lib/core/wait.ts'

export { untilPrinted, waitFor, within }

/**
 * fn holds (returns truthy, does not throw) at every look over ms, the last look at or after the
 * end of the window. Fails at the first look where it does not, saying after how long.
 */
export async function holdsFor(what: string, fn: () => unknown | Promise<unknown>, ms: number, stepMs = 50): Promise<void> {
  const start = Date.now()
  const end = start + ms
  for (;;) {
    let ok: unknown
    let why = ''
    try {
      ok = await fn()
    } catch (e) {
      why = `: ${e instanceof Error ? e.message : e}`
    }
    if (!ok) throw new Error(`${what}: stopped holding after ${Date.now() - start} ms of ${ms}${why}`)
    if (Date.now() >= end) return
    await pause(Math.min(stepMs, Math.max(1, end - Date.now())))
  }
}

/** Active timers in this process (what "no timer left behind" counts). */
export const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

/** Waits until no more timers are active than base; the error names how many are left. */
export async function timersBackTo(base: number, timeoutMs = 5000): Promise<void> {
  await waitFor(
    `active timers back to ${base}`,
    () => {
      const n = activeTimers()
      if (n > base) throw new Error(`${n} active`)
      return true
    },
    timeoutMs,
    20,
  )
}
