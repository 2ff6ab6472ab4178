// Runs the node daemon's parts as child processes: each is a bundle beside this one, started
// with node (no shell: these are programs we own, not shell commands), its stderr passed through
// (each part logs its own lines), restarted with backoff when it dies, stopped on shutdown.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { log } from '../core/log.ts'

export interface PartSpec {
  name: string
  args: string[]
  /** the program to run the bundle with (default: this Node) */
  command?: string
  /** extra environment, over this process's own (which children inherit: FLANNELD_ETCD_PASSWORD) */
  env?: Record<string, string>
  /** called for each stdout line (parts report events as JSON lines) */
  onLine?: (line: string) => void
  /** decides what an exit means; return 'stop-all' to end the daemon (e.g. lease revoked) */
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => 'restart' | 'stop-all' | 'done'
}

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
      child = spawn(this.spec.command ?? process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...this.spec.env } })
    } catch (e) {
      // Some failures (E2BIG, EINVAL) throw here instead of emitting 'error'.
      return this.died(null, null, (e as Error).message)
    }
    this.child = child
    if (child.pid !== undefined) log(`started ${this.spec.name} (pid ${child.pid})`)
    createInterface({ input: child.stdout! }).on('line', (l) => this.spec.onLine?.(l))
    child.on('error', (e) => {
      log(`${this.spec.name}: ${e.message}`)
      // A spawn that failed (EAGAIN, ENOMEM, a bundle gone) emits 'error' and never 'exit'.
      if (child.pid === undefined && this.child === child) this.died(null, null, e.message)
    })
    child.on('exit', (code, signal) => {
      if (this.child === child) this.died(code, signal)
    })
  }

  private died(code: number | null, signal: NodeJS.Signals | null, spawnError?: string): void {
    this.child = undefined
    if (this.stopping) return
    const verdict = spawnError ? 'restart' : (this.spec.onExit?.(code, signal) ?? 'restart')
    if (verdict === 'stop-all') return this.stopAll(`${this.spec.name} exited (code ${code})`)
    if (verdict === 'done') return log(`${this.spec.name} finished (code ${code})`)
    // A part that ran for a minute has recovered: start its backoff over.
    if (Date.now() - this.startedAt > 60_000) this.backoffMs = 1000
    const why = spawnError ? `could not start: ${spawnError}` : `died (${signal ?? `exit ${code}`})`
    log(`${this.spec.name} ${why}; restarting in ${this.backoffMs / 1000}s`)
    this.timer = setTimeout(() => this.start(), this.backoffMs)
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000)
  }

  get running(): boolean {
    return !!this.child
  }

  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearTimeout(this.timer)
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
