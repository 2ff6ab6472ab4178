// The one place that runs commands. Every shell command goes through zx (/bin/sh, each argument
// quoted); callers pass argv arrays, never strings, so nothing from the network or from a config
// file can reach a shell unquoted. Failures name the command line that failed.
// zx is loaded on the first command, not when a bundle starts: its ~9 ms load then overlaps what
// the caller started first (weft-routes sends its etcd reads before its first command).
import type * as Zx from 'zx/core'

export type Argv = readonly string[]

export interface RunOpts {
  input?: string
  /** return the result instead of throwing on a non-zero exit */
  nothrow?: boolean
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
}

export interface RunResult {
  stdout: string
  stderr: string
  code: number
}

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly result: RunResult,
  ) {
    const why = result.stderr.trim() || result.stdout.trim() || `exit status ${result.code}`
    super(`command failed (exit ${result.code}): ${cmd}: ${why}`)
  }
}

let zx: Promise<typeof Zx> | undefined
/** zx, loaded once; call early to start loading it in the background. */
export function loadZx(): Promise<typeof Zx> {
  // zx wants bash, which minimal hosts lack, and its bash $'..' quoting breaks under dash: run
  // every command through /bin/sh (POSIX, on every host) with POSIX single quotes instead.
  return (zx ??= import('zx/core').then((m) => {
    Object.assign(m.$, { shell: '/bin/sh', prefix: '', postfix: '', quote: shQuote })
    return m
  }))
}

/** POSIX sh quoting, exact for any argument: '...' with each ' written as '\''. */
export function shQuote(a: string): string {
  return `'${String(a).replace(/'/g, `'\\''`)}'`
}

/** A command line as an operator would type it (used by --dry-run and in error messages). */
export function cmdline(argv: Argv): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : ansiQuote(a))).join(' ')
}

/** bash's $'...' quoting, the form zx itself uses: control characters stay visible. */
function ansiQuote(a: string): string {
  const esc: Record<string, string> = { '\\': '\\\\', "'": "\\'", '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\0': '\\0' }
  return `$'${a.replace(/[\\'\f\n\r\t\v\0]/g, (c) => esc[c])}'`
}

export async function run(argv: Argv, opts: RunOpts = {}): Promise<RunResult> {
  const hasInput = opts.input !== undefined && opts.input !== ''
  return settle((await start(argv, opts, hasInput ? opts.input : undefined)).p, argv, opts)
}

/**
 * Start a command now and give its stdin later: its fork and exec overlap whatever runs
 * meanwhile (the route syncer starts its first batch while etcd's reply is on the way).
 * `finish('')` closes stdin at once, for a batch that turned out empty.
 */
export async function startPiped(argv: Argv, opts: Omit<RunOpts, 'input'> = {}): Promise<(input: string) => Promise<RunResult>> {
  const { p } = await start(argv, opts, 'later')
  return (input) => {
    p.stdin.end(input)
    return settle(p, argv, opts)
  }
}

/**
 * A long-running command whose stdout is read line by line (e.g. `ip monitor`), through the same
 * start path; resolves with its exit code when it ends or `signal` aborts (which kills it).
 */
export async function streamLines(argv: Argv, onLine: (line: string) => void, signal: AbortSignal, onStart?: () => void): Promise<number> {
  const { p } = await start(argv, {}, undefined)
  onStart?.()
  const kill = () => void p.kill().catch(() => {})
  signal.addEventListener('abort', kill, { once: true })
  let rest = ''
  p.stdout.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n')
    rest = lines.pop() ?? ''
    for (const l of lines) if (l.trim()) onLine(l)
  })
  try {
    return (await p).exitCode ?? 1
  } finally {
    signal.removeEventListener('abort', kill)
  }
}

/**
 * The one place a command starts: zx, /bin/sh, each argument quoted; stdin given now, later, or none.
 * The process is wrapped: an async function returning the ProcessPromise itself would wait for
 * the process to end (it is a thenable).
 */
async function start(argv: Argv, opts: RunOpts, input: string | 'later' | undefined): Promise<{ p: Zx.ProcessPromise }> {
  const { $ } = await loadZx()
  for (const a of argv) {
    // zx turns undefined/null into the words "undefined"/"null": refuse them loudly instead.
    if (typeof a !== 'string') throw new Error(`internal error: non-string argument in ${JSON.stringify(argv)}`)
  }
  const p = $({
    quiet: true,
    nothrow: true,
    verbose: false,
    input: input === 'later' ? undefined : input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: opts.timeoutMs,
    env: opts.env ?? process.env,
  })`${argv}`
  return { p }
}

async function settle(p: Zx.ProcessPromise, argv: Argv, opts: RunOpts): Promise<RunResult> {
  const out = await p
  const res: RunResult = { stdout: out.stdout, stderr: out.stderr, code: out.exitCode ?? 1 }
  if (res.code !== 0 && !opts.nothrow) throw new CommandError(cmdline(argv), res)
  return res
}

/** Run and parse stdout as JSON (stderr is kept apart: one warning there must not break parsing). */
export async function runJson<T = unknown>(argv: Argv, opts: RunOpts = {}): Promise<T> {
  const res = await run(argv, opts)
  const text = res.stdout.trim()
  if (text === '') return [] as unknown as T
  try {
    return JSON.parse(text) as T
  } catch (e) {
    throw new Error(`${cmdline(argv)}: output is not JSON: ${(e as Error).message}`)
  }
}
