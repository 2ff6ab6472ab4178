// A part of the node daemon never outlives its flanneld and never runs twice for one node (issue
// 13 item 6). kill -9 of flanneld used to leave its three parts running, and the restarted
// flanneld started three more: six processes managing one node.
//  - flanneld puts its pid in WEFT_SUPERVISOR_PID; a part started with it checks every 500 ms that
//    it is still its parent, and stops (its own SIGTERM path: rules, routes, lease and subnet.env
//    stay, as on any stop) once it is not. Node has no PR_SET_PDEATHSIG; polling getppid is cheap.
//  - A lock file in the run directory (beside subnet.env) names the running copy's pid; a second
//    copy for the same node (same run directory, same network namespace) refuses to run, saying
//    which pid holds it. A lock whose pid is gone (kill -9) or is another program is taken over.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
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

function holder(path: string, part: string): number | undefined {
  let pid: number
  try {
    pid = Number(readFileSync(path, 'utf8').trim())
  } catch {
    return undefined
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined
  try {
    // Alive and the same part (a recycled pid running something else does not hold the lock).
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(part) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Take the part's lock for this node, or throw AlreadyRunning naming the holder. Released at exit.
 * Only the subnet writer makes the run directory (it writes subnet.env there anyway); the readers
 * lock only where it exists, so a part run by hand with --network/--subnet creates nothing.
 */
export function holdLock(part: string, subnetFile: string, create = false): string | undefined {
  const path = lockPath(part, subnetFile)
  if (create) mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  else if (!existsSync(dirname(path))) return undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o644)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const pid = holder(path, part)
      if (pid) throw new AlreadyRunning(`${part} is already running for this node (pid ${pid}, lock ${path}): refusing to run a second copy`)
      // Stale (its process died without removing it): remove and race for it again; the loser
      // of that race sees a live holder and refuses.
      try {
        unlinkSync(path)
      } catch {}
      continue
    }
    writeSync(fd, `${process.pid}\n`)
    closeSync(fd)
    process.on('exit', () => {
      try {
        if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
      } catch {}
    })
    return path
  }
  throw new AlreadyRunning(`${part}: could not take the lock ${path}`)
}
