// Driving iptables: read a table's state with one iptables-save per table (not one `-C` per
// rule), and turn desired rule sets into one `iptables-restore --noflush` step per family.
import { existsSync, readFileSync } from 'node:fs'
import type { Family } from '../net/cidr.ts'
import type { Step } from '../core/plan.ts'
import { run } from '../core/sh.ts'
import type { IptTools } from './iptables-flavour.ts'
import { applyPayload, diffSet, ownedSets, parseSave, removePayload, type RuleSet, type TableState } from './rules.ts'

export type State = Record<'nat' | 'filter', TableState>

const empty = (): TableState => ({ chains: new Set(), rules: new Map() })

/**
 * Legacy tables exist per netns only once something used them, and `iptables-legacy-save -t X`
 * would create an empty X; /proc/net/ip{,6}_tables_names (per netns) says which exist.
 */
function legacyHas(family: Family, table: string): boolean {
  const f = family === 4 ? '/proc/net/ip_tables_names' : '/proc/net/ip6_tables_names'
  if (!existsSync(f)) return false
  return readFileSync(f, 'utf8').split('\n').includes(table)
}

export async function readState(t: IptTools): Promise<State> {
  const st = { nat: empty(), filter: empty() }
  for (const table of ['nat', 'filter'] as const) {
    if (t.flavour === 'legacy' && !legacyHas(t.family, table)) continue
    const res = await run([t.save, '-t', table])
    st[table] = parseSave(res.stdout)
  }
  return st
}

export function restoreArgv(t: IptTools): string[] {
  return t.modern ? [t.restore, '--noflush', '--wait'] : [t.restore, '--noflush']
}

/** Stale sets: chains of ours present in the kernel that the desired sets do not include. */
export function staleSets(desired: RuleSet[], st: State): RuleSet[] {
  return ownedSets().filter((o) => !desired.some((d) => d.chain === o.chain) && st[o.table].chains.has(o.chain))
}

/** The one restore step making this family's kernel state equal `desired` (undefined: nothing to do). */
export function applyStep(t: IptTools, desired: RuleSet[], st: State): Step | undefined {
  const input = applyPayload(desired, st, staleSets(desired, st))
  return input ? { argv: restoreArgv(t), input } : undefined
}

export function removeStep(t: IptTools, st: State): Step | undefined {
  const input = removePayload(ownedSets(), st)
  return input ? { argv: restoreArgv(t), input } : undefined
}

/** Differences between kernel and desired, one line each, prefixed with the family. */
export function differences(t: IptTools, desired: RuleSet[], st: State): string[] {
  const tag = t.family === 4 ? 'iptables' : 'ip6tables'
  const out = desired.flatMap((s) => diffSet(st[s.table], s))
  for (const s of staleSets(desired, st)) out.push(`unexpected chain ${s.table}/${s.chain}`)
  return out.map((d) => `${tag}: ${d}`)
}
