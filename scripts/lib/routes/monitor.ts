// The kernel's route changes as they happen (issue 13 item 8): one long-running
// `ip -json monitor route` (through sh.ts: zx, one process for the syncer's whole life) tells the
// route syncer that a route inside the cluster network was deleted, and it repairs at once instead
// of at the next periodic resync (6-8 s before; flannel's route check: 10 s). The periodic resync
// stays as the backstop for anything the monitor misses (it is restarted if it ever exits).
// iproute2 before 6.x prints text even with -json ("Deleted 10.244.2.0/24 via ..."): both are read.
import { streamLines } from '../core/sh.ts'
import { containsCidr, parseCidr, type Cidr } from '../net/cidr.ts'

export interface RouteEvent {
  dst: string
  deleted: boolean
}

const TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'anycast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat'])

/** One line of `ip [-json] monitor route`, or undefined for anything that is not a route. */
export function parseMonitorLine(line: string): RouteEvent | undefined {
  const t = line.trim()
  if (t.startsWith('{')) {
    try {
      const o = JSON.parse(t) as { dst?: unknown; deleted?: unknown }
      return typeof o.dst === 'string' ? { dst: o.dst, deleted: o.deleted === true } : undefined
    } catch {
      return undefined
    }
  }
  const w = t.split(/\s+/)
  let i = 0
  const deleted = w[i] === 'Deleted'
  if (deleted) i++
  if (TYPES.has(w[i])) i++
  const dst = w[i]
  return dst && /^[0-9a-f.:]+(\/\d+)?$|^default$/i.test(dst) ? { dst, deleted } : undefined
}

/** True when the event's destination lies inside one of the networks (a route of ours, or one in the way). */
export function inNetworks(ev: RouteEvent, networks: readonly Cidr[]): boolean {
  if (ev.dst === 'default') return false
  let c: Cidr
  try {
    c = parseCidr(ev.dst.includes('/') ? ev.dst : `${ev.dst}/${ev.dst.includes(':') ? 128 : 32}`)
  } catch {
    return false
  }
  return networks.some((n) => n.family === c.family && containsCidr(n, c))
}

/**
 * Call onDeleted for every route deleted inside the networks, until signal aborts. A monitor that
 * exits is started again after a second (the periodic resync covers the gap).
 */
export async function watchRouteDeletions(
  networks: readonly Cidr[],
  onDeleted: (ev: RouteEvent) => void,
  signal: AbortSignal,
  o: { warn: (m: string) => void; started: () => void },
): Promise<void> {
  const warn = o.warn
  while (!signal.aborted) {
    // started(): the caller syncs once more, for what changed before the monitor listened.
    const code = await streamLines(
      ['ip', '-json', 'monitor', 'route'],
      (line) => {
        const ev = parseMonitorLine(line)
        if (ev?.deleted && inNetworks(ev, networks)) onDeleted(ev)
      },
      signal,
      o.started,
    ).catch((e: Error) => (warn(`ip monitor route failed: ${e.message}`), 1))
    if (signal.aborted) return
    warn(`ip monitor route exited (code ${code}); restarting it in 1 s (the periodic resync still runs)`)
    await new Promise((r) => setTimeout(r, 1000))
  }
}
