// Test resources that must never outlive a test: network namespaces (unique names), child
// processes, temp dirs. `scope.close()` removes them all, also after a failure; a process 'exit'
// hook removes what a crashed run left. Tests never touch the root namespace.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const live = new Set<Scope>()
process.on('exit', () => {
  for (const s of live) s.closeSync()
})

let counter = 0
export function uniqueName(tag: string): string {
  // netns names are file names under /run/netns; link names are capped at 15 bytes, so keep it short.
  return `wt${tag}${process.pid.toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 5)}`
}

export interface Exec {
  stdout: string
  stderr: string
  code: number
}

export function sh(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; check?: boolean } = {}): Exec {
  const r = spawnSync(argv[0], argv.slice(1), {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  const res = { stdout: r.stdout ?? '', stderr: r.stderr ?? '', code: r.status ?? 128 }
  if (opts.check !== false && opts.check !== undefined && res.code !== 0) {
    throw new Error(`${argv.join(' ')} failed (${res.code}): ${res.stderr || res.stdout}`)
  }
  return res
}

export function must(argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Exec {
  return sh(argv, { ...opts, check: true })
}

export class Scope {
  readonly netns: string[] = []
  readonly procs: ChildProcess[] = []
  readonly dirs: string[] = []
  readonly cleanups: (() => void)[] = []
  constructor() {
    live.add(this)
  }

  /** A fresh network namespace with lo up. */
  ns(tag = 'n'): string {
    const name = uniqueName(tag)
    must(['ip', 'netns', 'add', name])
    this.netns.push(name)
    must(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
    return name
  }

  tmp(tag = 'weft'): string {
    const d = mkdtempSync(join(tmpdir(), `${tag}-`))
    this.dirs.push(d)
    return d
  }

  /** Start a long-running process (optionally inside a netns); it is killed on close. */
  spawn(argv: string[], opts: SpawnOptions & { netns?: string } = {}): ChildProcess {
    const full = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv
    const p = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    this.procs.push(p)
    return p
  }

  onClose(fn: () => void): void {
    this.cleanups.push(fn)
  }

  async close(): Promise<void> {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM')
        await Promise.race([new Promise((r) => p.once('exit', r)), new Promise((r) => setTimeout(r, 3000))])
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
      }
    }
    this.closeSync()
  }

  closeSync(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    this.procs.length = 0
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn()
      } catch {}
    }
    // Links inside a namespace die with it, so deleting the namespaces is the whole network cleanup.
    for (const n of this.netns.splice(0)) sh(['ip', 'netns', 'del', n])
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true })
    live.delete(this)
  }
}

/** exec inside a namespace */
export function inNs(ns: string, argv: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Exec {
  return sh(['ip', 'netns', 'exec', ns, ...argv], opts)
}

// Waiting (waitFor, holdsFor, within, ...) lives in wait.ts; waitFor is re-exported here for the
// many tests that import it with Scope.
export { waitFor } from './wait.ts'

export const root = new URL('../..', import.meta.url).pathname
export const dist = (name: string) => join(root, 'dist', name)
