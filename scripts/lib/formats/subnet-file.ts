// Writing subnet.env as flanneld does (renameio.WriteFile): MkdirAll(dir, 0755), a temp file in
// the same directory, fsync, rename(2), mode 0644 regardless of umask. A reader (the CNI plugin)
// sees the old file or the new one, never half of one. Reading it is subnet-env.ts.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync, fchmodSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'

export function writeFileAtomic(path: string, text: string, mode = 0o644): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    writeSync(fd, text)
    fchmodSync(fd, mode) // the umask must not narrow it
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw e
  }
  closeSync(fd)
  try {
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
  // The rename itself must survive a crash too.
  try {
    const dfd = openSync(dir, 'r')
    fsyncSync(dfd)
    closeSync(dfd)
  } catch {}
}
