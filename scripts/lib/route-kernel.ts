// The kernel side of the route syncer: read the main table as JSON, apply one `ip -batch -`.
// Two processes per sync whatever the number of peers (see reference/zx-and-bundling.md).
import { run, runJson, cmdline, type Step } from './sh.ts'
import { parseKernelRoutes, type KernelRoute } from './route-plan.ts'
import type { Family } from './cidr.ts'

export async function readRoutes(family: Family): Promise<KernelRoute[]> {
  const json = await runJson([`ip`, `-${family}`, '-j', 'route', 'show', 'table', 'main'])
  return parseKernelRoutes(json, family)
}

/**
 * The batch as a plan step. `-force` keeps going past a failing line (a peer whose gateway is not
 * on-link, a route someone deleted between our read and our write) so one bad peer never holds
 * back the others; ip still exits non-zero and names the line, and the next resync retries.
 */
export function batchStep(batch: string): Step {
  return { argv: ['ip', '-force', '-batch', '-'], input: batch }
}

/** Apply; returns the error text of the failed lines, or undefined when all went in. */
export async function applyBatch(batch: string): Promise<string | undefined> {
  if (batch === '') return undefined
  const step = batchStep(batch)
  const res = await run(step.argv, { input: step.input, nothrow: true })
  if (res.code === 0) return undefined
  const why = res.stderr.trim().split('\n').slice(0, 6).join('; ') || `exit status ${res.code}`
  return `${cmdline(step.argv)}: ${why}`
}

export type { KernelRoute }
