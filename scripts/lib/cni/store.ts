// Scratch files: dataDir/<containerID> holds the exact delegate config sent at ADD, so DEL (and
// our CHECK and GC) can replay it after subnet.env or the conflist changed. The container ID has
// passed ID_RE (no '/', cannot be '.' or '..') before any path is built; the path is checked to
// sit directly in dataDir anyway. The file is fsynced before the delegate runs: an empty file
// after a crash used to leave pods stuck Terminating (flannel#1662).
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync, constants } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { CniError, ERR, goFsError } from './error.ts'
import { ID_RE } from './env.ts'

export function scratchPath(dataDir: string, containerId: string): string {
  if (!ID_RE.test(containerId)) throw new CniError(ERR.invalidEnv, 'invalid characters in containerID', containerId)
  const p = join(dataDir, containerId)
  if (resolve(dirname(p)) !== resolve(dataDir)) throw new CniError(ERR.invalidEnv, 'invalid characters in containerID', containerId)
  return p
}

/** Refuse a dataDir that exists but is not a directory (a clear message instead of ENOTDIR later). */
export function checkDataDir(dataDir: string): void {
  let st
  try {
    st = statSync(dataDir)
  } catch {
    return
  }
  if (!st.isDirectory()) throw new Error(`dataDir ${JSON.stringify(dataDir)} exists and is not a directory`)
}

export function saveScratch(dataDir: string, containerId: string, bytes: string): void {
  const p = scratchPath(dataDir, containerId)
  checkDataDir(dataDir)
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (e) {
    throw new Error(goFsError('mkdir', dataDir, e))
  }
  let fd: number
  try {
    fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600)
  } catch (e) {
    throw new Error(goFsError('open', p, e))
  }
  try {
    writeSync(fd, bytes)
    fsyncSync(fd)
  } catch (e) {
    throw new Error(goFsError('write', p, e))
  } finally {
    closeSync(fd)
  }
}

/** The saved bytes, or null when there is no file (DEL is then a no-op). */
export function loadScratch(dataDir: string, containerId: string): string | null {
  const p = scratchPath(dataDir, containerId)
  checkDataDir(dataDir)
  try {
    return readFileSync(p, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new Error(goFsError('open', p, e))
  }
}

export function removeScratch(dataDir: string, containerId: string): void {
  try {
    unlinkSync(scratchPath(dataDir, containerId))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
}

/** Container IDs with a saved config (names that are not valid IDs are not ours: skipped). */
export function listScratch(dataDir: string): string[] {
  checkDataDir(dataDir)
  let names: string[]
  try {
    names = readdirSync(dataDir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new Error(goFsError('open', dataDir, e))
  }
  return names.filter((n) => ID_RE.test(n)).sort()
}
