// Scratch files: dataDir/<containerID> holds the exact delegate config sent at ADD, so DEL (and
// our CHECK and GC) can replay it after subnet.env or the conflist changed. The container ID has
// passed ID_RE (no '/', cannot be '.' or '..') before any path is built; the path is checked to
// sit directly in dataDir anyway. The file is written whole or not at all (a temp file beside it,
// fsync, rename) before the delegate runs: a kill -9 mid-write used to
// leave an empty file (flannel#1662; 1 in 24 kills in issue 13) that no DEL or GC removed.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, constants } from 'node:fs'
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
  const tmp = tempPath(dataDir, containerId)
  let fd: number
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600)
  } catch (e) {
    throw new Error(goFsError('open', tmp, e))
  }
  try {
    writeSync(fd, bytes)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    removeTemp(dataDir, containerId)
    throw new Error(goFsError('write', tmp, e))
  }
  closeSync(fd)
  try {
    renameSync(tmp, p)
  } catch (e) {
    removeTemp(dataDir, containerId)
    throw new Error(goFsError('rename', p, e))
  }
  // No fsync of the directory: it would cost every pod a few ms (the plugin's start-up is
  // benchmarked), and a kill -9, the failure seen, cannot undo a rename; a power loss may (then
  // the file is missing, DEL is a no-op, and GC frees the address).
}

// One fixed temp name per container (the runtime never runs two ADDs for one container at once),
// so the DEL for that container can remove what a killed ADD left. The leading dot keeps it out
// of listScratch (ID_RE needs an alphanumeric first character).
function tempPath(dataDir: string, containerId: string): string {
  scratchPath(dataDir, containerId) // validates the ID
  return join(dataDir, `.${containerId}.tmp`)
}

/** Remove the temp file a killed ADD may have left for this container. */
export function removeTemp(dataDir: string, containerId: string): void {
  try {
    unlinkSync(tempPath(dataDir, containerId))
  } catch {}
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

/** Container IDs with a temp file left by a killed ADD. */
export function listTemps(dataDir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(dataDir)
  } catch {
    return []
  }
  return names.map((n) => /^\.(.+)\.tmp$/.exec(n)?.[1] ?? '').filter((id) => ID_RE.test(id))
}
