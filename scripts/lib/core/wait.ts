// Waiting with a deadline, for the daemons' tools (the lab) and the tests alike; test/helpers/wait.ts
// adds the test-only waits. Never a fixed sleep: each wait polls a condition, or listens for what
// a process prints, and a timeout names what it waited for.
// The timer functions are captured when this module loads, so node:test's mock.timers (which unit
// tests use to drive timer-driven code) cannot stop these waits from keeping real time.
import type { ChildProcess } from 'node:child_process'

const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout
export const pause = (ms: number) => new Promise<void>((r) => realSetTimeout(r, ms))

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10000, stepMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (e) {
      last = e
    }
    // One last look at the deadline: a slow machine may have spent the window in fn itself.
    if (Date.now() >= end) break
    await pause(Math.min(stepMs, Math.max(1, end - Date.now())))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : last}` : ''}`)
}

/** p's value, or `still running after <ms> ms` if it has not settled by then (its timer is cleared). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | string> {
  let t: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<string>((r) => (t = realSetTimeout(() => r(`still running after ${ms} ms`), ms)))
  try {
    return await Promise.race([p, deadline])
  } finally {
    realClearTimeout(t)
  }
}

/**
 * Resolves once p has printed text on stdout (e.g. a server's "up" once listening); rejects if p
 * exits first or the deadline passes, naming what it saw. Call it right after starting p.
 */
export function untilPrinted(p: ChildProcess, text: string, timeoutMs = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    const t = realSetTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for "${text}" from pid ${p.pid}; it printed: ${JSON.stringify(out)}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d
      if (out.includes(text)) finish()
    }
    const onExit = (code: number | null) => finish(new Error(`pid ${p.pid} exited (${code}) before printing "${text}"; it printed: ${JSON.stringify(out)}`))
    function finish(e?: Error) {
      realClearTimeout(t)
      p.stdout?.off('data', onData)
      p.off('exit', onExit)
      if (e) reject(e)
      else resolve()
    }
    p.stdout?.on('data', onData)
    p.once('exit', onExit)
  })
}
