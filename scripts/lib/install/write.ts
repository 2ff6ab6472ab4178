// Writing the plan: each file atomically (temp file in the same directory, fsync, rename), as
// flannel's install-conf does, so a runtime never reads a half-written plugin or conflist; each
// link likewise (symlink beside it, rename over). Returns what the manifest records.
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, existsSync, chmodSync, rmSync, symlinkSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import type { FileOut } from './files.ts'
import type { PluginLink } from './plugins.ts'
import { sha256, MANIFEST_PATH, type Manifest } from './manifest.ts'

/** The directories (node paths) that do not exist yet and mkdir -p would make for these paths. */
export function missingDirs(root: string, dirs: string[]): string[] {
  const out = new Set<string>()
  for (let d of dirs) {
    while (d !== '/' && !existsSync(join(root, d))) {
      out.add(d)
      d = dirname(d)
    }
  }
  return [...out].sort()
}

export function writePlan(root: string, files: FileOut[], links: PluginLink[], dirs: string[], report: (line: string) => void): Manifest {
  const made = missingDirs(root, [...files.map((f) => dirname(f.path)), ...links.map((l) => dirname(l.path)), ...dirs, dirname(MANIFEST_PATH)])
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true, mode: 0o755 })
  const m: Manifest = { files: [], links: [], dirs: made }
  for (const file of files) {
    const bytes = file.from ? readFileSync(file.from) : Buffer.from(file.text ?? '')
    writeAtomic(join(root, file.path), bytes, file.mode)
    m.files.push({ path: file.path, sha256: sha256(bytes) })
    report(`installed ${join(root, file.path)}`)
  }
  for (const l of links) {
    const p = join(root, l.path)
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 })
    const tmp = join(dirname(p), `.${basename(p)}.tmp${process.pid}`)
    rmSync(tmp, { force: true })
    symlinkSync(l.target, tmp)
    renameSync(tmp, p)
    m.links.push(l)
    report(`linked ${p} -> ${l.target}`)
  }
  return m
}

export function writeAtomic(path: string, bytes: Buffer, mode: number): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  const tmp = join(dir, `.${basename(path)}.tmp${process.pid}`)
  try {
    const fd = openSync(tmp, 'w', mode)
    try {
      writeSync(fd, bytes)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    chmodSync(tmp, mode)
    // rename(2) over a running plugin binary is safe (the old inode lives on), unlike cp.
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}
