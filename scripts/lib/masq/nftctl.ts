// Driving nft: which of our tables exist, the fully-random probe, and reading a table back
// (the text resync compares against the listing taken right after the last apply).
import type { Family } from '../net/cidr.ts'
import { run } from '../core/sh.ts'
import { nftFamily, ourTables, probeScript, tableName } from './nft.ts'

export async function existingTables(): Promise<Family[]> {
  return ourTables((await run(['nft', 'list', 'tables'])).stdout)
}

/** flannel's probe: `nft --check` a masquerade fully-random rule in a scratch chain. */
export async function fullyRandomWorks(): Promise<boolean> {
  return (await run(['nft', '--check', '-f', '-'], { input: probeScript(4), nothrow: true })).code === 0
}

/** The table's listing, or undefined when it does not exist. */
export async function listTable(f: Family): Promise<string | undefined> {
  const res = await run(['nft', 'list', 'table', nftFamily(f), tableName(f)], { nothrow: true })
  return res.code === 0 ? res.stdout : undefined
}

/**
 * nft prints numbers its own way (`meta mark 0x4000` is listed as `0x00004000`): one spelling for
 * both sides, so a table body we planned (nft.ts tableBody) compares with a kernel listing.
 */
export function canonLine(l: string): string {
  return l.trim().replace(/\b0x0*([0-9a-f]+)\b/gi, (_, h: string) => `0x${h.toLowerCase()}`)
}

/**
 * Line differences between the table we want (a listing we took after our apply, or the planned
 * body) and the one now in the kernel: missing and unexpected lines, else the first line out of
 * order.
 */
export function listingDiff(f: Family, want: string, have: string | undefined): string[] {
  const t = `${nftFamily(f)} ${tableName(f)}`
  if (have === undefined) return [`missing table ${t}`]
  const lines = (s: string) => s.split('\n').map(canonLine).filter(Boolean)
  const w = lines(want)
  const h = lines(have)
  const out = w.filter((l) => !h.includes(l)).map((l) => `nft ${t}: missing: ${l}`)
  out.push(...h.filter((l) => !w.includes(l)).map((l) => `nft ${t}: unexpected: ${l}`))
  if (!out.length && w.join('\n') !== h.join('\n')) {
    const i = w.findIndex((l, k) => l !== h[k])
    out.push(`nft ${t}: rules out of order: "${h[i]}" where "${w[i]}" belongs`)
  }
  return out
}
