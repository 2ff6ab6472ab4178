// The kernel side of the route syncer: read the main table as JSON, apply one `ip -batch -`.
// Two processes per sync whatever the number of peers (see reference/zx-and-bundling.md).
import { run, runJson, startPiped, cmdline, type RunResult } from '../core/sh.ts'
import { applyKeepGoing, type Step } from '../core/plan.ts'
import { parseKernelRoutes, type KernelRoute } from './hostgw/plan.ts'
import { parseCidr, type Cidr, type Family } from '../net/cidr.ts'

export async function readRoutes(family: Family): Promise<KernelRoute[]> {
  const json = await runJson([`ip`, `-${family}`, '-j', 'route', 'show', 'table', 'main'])
  return parseKernelRoutes(json, family)
}

/**
 * The start's kernel read in one process (`ip -j -batch -` prints one JSON array per command): the
 * interface's addresses, and the IPv4 main table. `addrs` is undefined when the interface does not
 * exist (ip stops at the failing first line). The name must already be checked (no whitespace).
 */
export async function readIfaceAndRoutes(iface: string): Promise<{ addrs?: string[]; nets: Cidr[]; routes: KernelRoute[] }> {
  const argv = ['ip', '-j', '-batch', '-']
  const res = await run(argv, { input: `addr show dev ${iface}\nroute show table main\n`, nothrow: true })
  const lines = res.stdout.split('\n').filter((l) => l.trim() !== '')
  if (res.code !== 0 && lines.length === 0 && /does not exist/.test(res.stderr)) return { nets: [], routes: [] }
  if (res.code !== 0 || lines.length !== 2) throw new Error(`${cmdline(argv)}: ${res.stderr.trim() || `exit status ${res.code}`}`)
  let links: AddrLinks, routes: unknown
  try {
    links = JSON.parse(lines[0])
    routes = JSON.parse(lines[1])
  } catch (e) {
    throw new Error(`${cmdline(argv)}: output is not JSON: ${(e as Error).message}`)
  }
  const addrs = links
    .flatMap((l) => l.addr_info ?? [])
    .map((a) => a.local ?? '')
    .filter(Boolean)
  return { addrs, nets: v4Nets(links), routes: parseKernelRoutes(routes, 4) }
}

type AddrLinks = { addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[]

/** The interface's connected IPv4 networks now (vxlan DirectRouting: a peer inside one is on-link). */
export async function readIfaceNets(iface: string): Promise<Cidr[]> {
  return v4Nets(await runJson<AddrLinks>(['ip', '-4', '-j', 'addr', 'show', 'dev', iface]))
}

// IPv4 only: parsing the link-local IPv6 address would load ip-num on every start.
function v4Nets(links: AddrLinks): Cidr[] {
  return links
    .flatMap((l) => l.addr_info ?? [])
    .filter((a) => a.family === 'inet')
    .flatMap((a) => {
      try {
        return [parseCidr(`${a.local}/${a.prefixlen}`)]
      } catch {
        return []
      }
    })
}

/**
 * The batch as a plan step. `-force` keeps going past a failing line (a peer whose gateway is not
 * on-link, a route someone deleted between our read and our write) so one bad peer never holds
 * back the others; ip still exits non-zero and names the line, and the next resync retries.
 */
export function batchStep(batch: string): Step {
  return { argv: ['ip', '-force', '-batch', '-'], input: batch }
}

/** A batch's `ip` already started, waiting for its lines (see startPiped). */
export type PreparedBatch = Promise<(input: string) => Promise<RunResult>>

export function prepareBatch(): PreparedBatch {
  return startPiped(batchStep('').argv, { nothrow: true })
}

/**
 * Apply, through `prepared` when given (which is then used up, even for an empty batch); returns
 * the error text of the failed lines, or undefined when all went in.
 */
export async function applyBatch(batch: string, prepared?: PreparedBatch): Promise<string | undefined> {
  if (batch === '') {
    if (prepared) await (await prepared)('')
    return undefined
  }
  return (await applyKeepGoing([batchStep(batch)], prepared && (await prepared))) || undefined
}

export type { KernelRoute }
