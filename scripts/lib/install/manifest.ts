// What weft-install put on this node, so --uninstall removes exactly that: each file with the
// hash of the bytes written (a file changed since is left in place, with a warning), each link
// with its target, each directory it had to make (removed only when empty). Paths are the node's
// (without --root), so the manifest stays true in an image built with --root.
import { readFileSync, existsSync, lstatSync, readlinkSync, rmSync, rmdirSync, readdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'

export const MANIFEST_PATH = '/var/lib/weft/install-manifest.json'

export interface Manifest {
  files: { path: string; sha256: string }[]
  links: { path: string; target: string }[]
  dirs: string[]
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

export function readManifest(root: string): Manifest | undefined {
  const p = join(root, MANIFEST_PATH)
  if (!existsSync(p)) return undefined
  const m = JSON.parse(readFileSync(p, 'utf8')) as Manifest
  if (!Array.isArray(m.files) || !Array.isArray(m.links) || !Array.isArray(m.dirs)) throw new Error(`${p}: not a weft install manifest`)
  return m
}

/** A new install over an old one: the union, the new entries winning; sorted, so the bytes are stable. */
export function mergeManifest(old: Manifest | undefined, now: Manifest): Manifest {
  const byPath = <T extends { path: string }>(a: T[], b: T[]) => [...new Map([...a, ...b].map((e) => [e.path, e])).values()].sort((x, y) => x.path.localeCompare(y.path))
  return {
    files: byPath(old?.files ?? [], now.files),
    links: byPath(old?.links ?? [], now.links),
    dirs: [...new Set([...(old?.dirs ?? []), ...now.dirs])].sort(),
  }
}

export function manifestText(m: Manifest): string {
  return JSON.stringify(m, null, 2) + '\n'
}

/** Removes what the manifest lists; returns one line per path (removed, or why it stayed). */
export function uninstall(root: string, m: Manifest, dryRun: boolean): string[] {
  const out: string[] = []
  const rm = (p: string, what: string) => {
    if (!dryRun) rmSync(join(root, p), { force: true })
    out.push(`${dryRun ? 'would remove' : 'removed'} ${what} ${p}`)
  }
  for (const f of m.files) {
    const p = join(root, f.path)
    if (!existsSync(p)) out.push(`already gone ${f.path}`)
    else if (sha256(readFileSync(p)) !== f.sha256) out.push(`left in place ${f.path}: changed since weft-install wrote it`)
    else rm(f.path, 'file')
  }
  for (const l of m.links) {
    const p = join(root, l.path)
    let target: string | undefined
    try {
      if (lstatSync(p).isSymbolicLink()) target = readlinkSync(p)
    } catch {}
    if (target === undefined) out.push(`already gone ${l.path}`)
    else if (target !== l.target) out.push(`left in place ${l.path}: now points to ${target}`)
    else rm(l.path, 'link')
  }
  rm(MANIFEST_PATH, 'manifest')
  // Deepest first, so a parent we made goes after its children; a directory with anything else
  // in it (someone else's files) stays.
  for (const d of [...m.dirs, '/var/lib/weft'].sort((a, b) => b.length - a.length)) {
    const p = join(root, d)
    if (!existsSync(p)) continue
    if (dryRun) {
      out.push(`would remove directory ${d} (if empty)`)
      continue
    }
    if (readdirSync(p).length === 0) {
      rmdirSync(p)
      out.push(`removed directory ${d}`)
    }
  }
  return out
}
