// Runs the node daemon's parts as child processes: each is a bundle beside this one, started
// with node (no shell: these are programs we own, not shell commands), its stderr passed through
// (each part logs its own lines), restarted with backoff when it dies, stopped on shutdown.
// Each part reports typed events on fd 3 (events.ts); one whose heartbeats stop (SIGSTOP, a
// blocked event loop) is killed and restarted like one that died.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { log, warn } from '../core/log.ts'
import { parseEvent, type PartEvent } from './events.ts'

export interface PartSpec {
  name: string
  args: string[]
  /** the program to run the bundle with (default: this Node) */
  command?: string
  /** extra environment, over this process's own (which children inherit: FLANNELD_ETCD_PASSWORD) */
  env?: Record<string, string>
  /** called for each stdout line */
  onLine?: (line: string) => void
  /** called for each event the part reports on its events fd */
  onEvent?: (ev: PartEvent) => void
  /** called when the part starts, dies, or is killed as hung (health and metrics follow this) */
  onLifecycle?: (what: 'started' | 'died' | 'hung', detail: string) => void
  /** kill and restart the part when no event (heartbeat) came for this long; 0: never */
  livenessMs?: number
  /** decides what an exit means; return 'stop-all' to end the daemon (e.g. lease revoked) */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => 'restart' | 'stop-all' | 'done'
}

/** extra time a fresh part gets for its first event (loading a bundle took 3 s here under load) */
const STARTUP_GRACE_MS = 10_000

export const bundleDir = dirname(process.argv[1] ?? '.')
export function bundlePath(name: string): string {
  return join(bundleDir, name)
}

export class Part {
  private child?: ChildProcess
  private backoffMs = 1000
  private stopping = false
  private startedAt = 0
  private timer?: NodeJS.Timeout
  private watchdog?: NodeJS.Timeout
  private lastEventAt = 0
  /** whether this child has said anything yet: until then it is loading, which takes seconds on a busy host */
  private heard = false
  private hung = false
  /** restarts so far (deaths and hangs), for health and metrics */
  restarts = 0
  constructor(
    readonly spec: PartSpec,
    private readonly stopAll: (why: string) => void,
  ) {}

  start(): void {
    if (this.stopping) return
    const argv = [bundlePath(this.spec.name), ...this.spec.args]
    this.startedAt = Date.now()
    // Secrets travel in the environment, never in argv (visible in ps): see etcd-flags.ts.
    let child: ChildProcess
    try {
      // fd 3: the part's events (WEFT_EVENTS_FD tells it where).
      child = spawn(this.spec.command ?? process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit', 'pipe'], env: { ...process.env, ...this.spec.env, WEFT_EVENTS_FD: '3' } })
    } catch (e) {
      // Some failures (E2BIG, EINVAL) throw here instead of emitting 'error'.
      return this.died(null, null, (e as Error).message)
    }
    this.child = child
    this.hung = false
    this.heard = false
    this.lastEventAt = Date.now()
    if (child.pid !== undefined) {
      log(`started ${this.spec.name} (pid ${child.pid})`)
      this.spec.onLifecycle?.('started', `pid ${child.pid}`)
    }
    createInterface({ input: child.stdout! }).on('line', (l) => this.spec.onLine?.(l))
    let saidInvalid = false
    createInterface({ input: child.stdio[3] as Readable }).on('line', (l) => {
      if (this.child !== child) return
      this.lastEventAt = Date.now()
      this.heard = true
      const ev = parseEvent(l)
      if ('invalid' in ev) {
        if (!saidInvalid) warn(`${this.spec.name}: ignoring a malformed event (${ev.invalid}): ${l.slice(0, 200)}`)
        saidInvalid = true
        return
      }
      this.spec.onEvent?.(ev)
    })
    this.armWatchdog(child)
    child.on('error', (e) => {
      log(`${this.spec.name}: ${e.message}`)
      // A spawn that failed (EAGAIN, ENOMEM, a bundle gone) emits 'error' and never 'exit'.
      if (child.pid === undefined && this.child === child) this.died(null, null, e.message)
    })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.died(code, signal)
    })
  }

  /**
   * A part that sends nothing for livenessMs is hung (stopped, or its event loop blocked): SIGKILL,
   * since a stopped process never sees SIGTERM; its exit then restarts it as any death does.
   */
  private armWatchdog(child: ChildProcess): void {
    const limit = this.spec.livenessMs ?? 0
    if (!limit) return
    clearInterval(this.watchdog)
    this.watchdog = setInterval(
      () => {
        if (this.child !== child || this.stopping || this.hung) return
        const silent = Date.now() - this.lastEventAt
        if (silent < limit + (this.heard ? 0 : STARTUP_GRACE_MS)) return
        this.hung = true
        const what = `no heartbeat for ${(silent / 1000).toFixed(1)} s`
        log(`${this.spec.name} (pid ${child.pid}) is hung: ${what}; killing it (SIGKILL) to restart it`)
        this.spec.onLifecycle?.('hung', what)
        child.kill('SIGKILL')
      },
      Math.min(500, limit / 4),
    )
    this.watchdog.unref()
  }

  private died(code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    this.child = undefined
    clearInterval(this.watchdog)
    if (this.stopping) return
    const verdict = spawnError ? 'restart' : (this.spec.onExit?.(code, signal) ?? 'restart')
    if (verdict === 'stop-all') return this.stopAll(`${this.spec.name} exited (code ${code})`)
    if (verdict === 'done') return log(`${this.spec.name} finished (code ${code})`)
    // A part that ran for a minute has recovered: start its backoff over.
    if (Date.now() - this.startedAt > 60_000) this.backoffMs = 1000
    const why = spawnError ? `could not start: ${spawnError}` : this.hung ? 'was hung and is killed' : `died (${signal ?? `exit ${code}`})`
    this.restarts++
    this.spec.onLifecycle?.('died', why)
    log(`${this.spec.name} ${why}; restarting in ${this.backoffMs / 1000}s`)
    this.timer = setTimeout(() => this.start(), this.backoffMs)
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000)
  }

  get running(): boolean {
    return !!this.child
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearTimeout(this.timer)
    clearInterval(this.watchdog)
    const c = this.child
    // A child whose spawn failed has no pid and will never emit 'exit'.
    if (!c || c.pid === undefined) return
    const gone = new Promise((r) => c.once('exit', r))
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), 5000)
    await gone
    clearTimeout(t)
  }
}
