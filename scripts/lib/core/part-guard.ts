// A part of the node daemon never outlives its flanneld and never runs twice for one node (issue
// 13 item 6). kill -9 of flanneld used to leave its three parts running, and the restarted
// flanneld started three more: six processes managing one node.
//  - flanneld puts its pid in WEFT_SUPERVISOR_PID; a part started with it checks every 500 ms that
//    it is still its parent, and stops (its own SIGTERM path: rules, routes, lease and subnet.env
//    stay, as on any stop) once it is not. Node has no PR_SET_PDEATHSIG; polling getppid is cheap.
//  - A lock file in the run directory (beside subnet.env) names the running copy's pid; a second
//    copy for the same node (same run directory, same network namespace) refuses to run, saying
//    which pid holds it. A lock whose pid is gone (kill -9) or is another program is taken over,
//    by one starter only when several race for it (see removeStale).
import { closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'

export const SUPERVISOR_ENV = 'WEFT_SUPERVISOR_PID'

/** Stop (with SIGTERM to ourselves) once the flanneld that started us is gone. */
export function exitWithSupervisor(log: (m: string) => void, env: NodeJS.ProcessEnv = process.env, everyMs = 500): void {
  const sup = Number(env[SUPERVISOR_ENV])
  if (!Number.isInteger(sup) || sup <= 1) return // run by hand or by systemd: nobody to outlive
  if (process.ppid !== sup) return void stopNow(log, sup) // already orphaned before we got here
  const t = setInterval(() => {
    if (process.ppid === sup) return
    clearInterval(t)
    stopNow(log, sup)
  }, everyMs)
  t.unref()
}

function stopNow(log: (m: string) => void, sup: number): void {
  log(`flanneld (pid ${sup}) is gone: stopping, as it would have stopped us`)
  process.kill(process.pid, 'SIGTERM')
  // A part without a SIGTERM handler has exited by now; one whose handler hangs must still go.
  setTimeout(() => process.exit(0), 3000).unref()
}

export class AlreadyRunning extends Error {}

/** The lock's path: one per part, run directory and network namespace (a lab runs nodes side by side). */
export function lockPath(part: string, subnetFile: string): string {
  let ns = 'host'
  try {
    ns = String(statSync('/proc/self/ns/net').ino)
  } catch {}
  return join(dirname(subnetFile), `.${part}.${ns}.lock`)
}

/** The pid in a lock's text if it is a live copy of the part (a recycled pid running something else is not). */
function liveHolder(text: string, part: string): number | undefined {
  const pid = Number(text.trim())
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(part) ? pid : undefined
  } catch {
    return undefined
  }
}

/** The lock file as one consistent look: its inode and its text, read through one descriptor. */
export function look(path: string): { ino: number; text: string } | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  try {
    return { ino: fstatSync(fd).ino, text: readFileSync(fd, 'utf8') }
  } finally {
    closeSync(fd)
  }
}

/**
 * Remove the stale lock seen as `stale`, unless another starter is already doing so. Two starters
 * that both judged it stale must not both remove "the lock": the second would remove the first's
 * fresh one and both would run. So removal is the right of whoever creates `<lock>.take-<inode>`
 * first (O_EXCL), and it removes the lock only while the path still holds that very inode; no
 * one replaces a lock in place (a new one is only ever linked where none exists).
 */
export function removeStale(path: string, stale: { ino: number; text: string }, part: string): void {
  const token = `${path}.take-${stale.ino}`
  let fd: number
  try {
    fd = openSync(token, 'wx', 0o644)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    // Someone is on it; if that someone died mid-way, clear its token so the next look can proceed.
    const t = look(token)
    if (t && !liveHolder(t.text, part)) unlinkIf(token, t.ino)
    return
  }
  try {
    writeSync(fd, `${process.pid}\n`)
    closeSync(fd)
    const now = look(path)
    if (now && now.ino === stale.ino && now.text === stale.text) unlinkSync(path)
  } finally {
    try {
      unlinkSync(token)
    } catch {}
  }
}

function unlinkIf(path: string, ino: number): void {
  try {
    if (statSync(path).ino === ino) unlinkSync(path)
  } catch {}
}

/**
 * Take the part's lock for this node, or throw AlreadyRunning naming the holder. Released at exit.
 * Only the subnet writer makes the run directory (it writes subnet.env there anyway); the readers
 * lock only where it exists, so a part run by hand with --network/--subnet creates nothing.
 * The lock appears whole or not at all: our pid is written to a file of our own, then hard-linked
 * to the lock's name (link(2) fails if the name exists), so no starter ever reads a half-made one.
 */
export function holdLock(part: string, subnetFile: string, create = false): string | undefined {
  const path = lockPath(part, subnetFile)
  if (create) mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  else if (!existsSync(dirname(path))) return undefined
  const mine = `${path}.${process.pid}.new`
  writeFileSync(mine, `${process.pid}\n`, { mode: 0o644 })
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        linkSync(mine, path)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        const seen = look(path)
        if (!seen) continue // released meanwhile: try again
        const pid = liveHolder(seen.text, part)
        if (pid) throw new AlreadyRunning(`${part} is already running for this node (pid ${pid}, lock ${path}): refusing to run a second copy`)
        if (seen.text.trim() === String(process.pid)) return path // ours already (a second call)
        removeStale(path, seen, part)
        continue
      }
      process.on('exit', () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
        } catch {}
      })
      return path
    }
  } finally {
    try {
      unlinkSync(mine)
    } catch {}
  }
  throw new AlreadyRunning(`${part}: could not take the lock ${path}`)
}
