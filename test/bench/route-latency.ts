// What the route benchmarks share: when a route first appears in a namespace (from `ip monitor
// route`, outside the daemon), the latency from a registry change to that route over 50 changes,
// and its summary line. Fixed pauses here are a benchmark's pacing, never a test's wait.
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import type { Scope } from '../helpers/scope.ts'
import { waitFor } from '../helpers/scope.ts'

/** epoch ms, comparable across processes */
export const now = () => performance.timeOrigin + performance.now()
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)) // allow-timer: benchmark pacing

/**
 * Starts `ip monitor route` in ns, then for i in 0..count-1 calls change(i, dst) (which returns
 * the time it made the change, or undefined for "now, before the call") and waits for dst's
 * route. Returns the latencies in ms.
 */
export async function changeToRoute(scope: Scope, ns: string, count: number, change: (i: number, dst: string) => Promise<number | undefined>): Promise<number[]> {
  const mon = scope.spawn(['ip', '-n', ns, 'monitor', 'route'])
  const seen = new Map<string, number>()
  createInterface({ input: mon.stdout! }).on('line', (l) => {
    const dst = l.split(' ')[0]
    if (!seen.has(dst)) seen.set(dst, now())
  })
  await pause(300) // the monitor subscribed
  const lat: number[] = []
  for (let i = 0; i < count; i++) {
    const dst = `10.100.${i}.0/24`
    const before = now()
    const t0 = (await change(i, dst)) ?? before
    const t1 = await waitFor(`route ${dst}`, () => seen.get(dst), 5000, 2)
    lat.push(t1 - t0)
    await pause(20)
  }
  mon.kill()
  return lat
}

/** "median m ms, min, p90, max" over latencies */
export function latencyLine(lat: number[]): string {
  const s = [...lat].sort((a, b) => a - b)
  const p90 = s[Math.min(s.length - 1, Math.floor(s.length * 0.9) - 1)]
  return `median ${median(lat).toFixed(1)} ms, min ${s[0].toFixed(1)}, p90 ${p90.toFixed(1)}, max ${s[s.length - 1].toFixed(1)}`
}

/** The peak RSS (VmHWM) of a process, in MB. */
export const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
