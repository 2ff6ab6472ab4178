// Finding and running a delegate plugin as the Go lib's invoke package does (reference/cni.md
// section 1.4 steps 9-10). A CNI delegate is exec'd, not a shell command: it is run with
// node's child_process directly (no bash, no zx) because the plugin runs once per pod and every
// millisecond of start-up counts (see docs/cni-plugin.md, "Performance"); argv is the binary alone,
// so there is nothing to quote. Its stderr is copied to ours.
import { statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { CniError } from './error.ts'
import { goQuote, isObject } from '../formats/cni-json.ts'

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

/** The first regular file named `type` in the CNI_PATH dirs (exec bit not checked, as in Go). */
export function findPlugin(type: string, cniPath: string): string {
  const dirs = cniPath === '' ? [] : cniPath.split(':')
  if (type === '') throw new Error('no plugin name provided')
  // Go would join "../x" onto each dir; a type is a file name, never a path out of CNI_PATH.
  if (type.includes('/') || type === '.' || type === '..') throw new Error(`invalid plugin name ${goQuote(type)}: a plugin type is a file name in CNI_PATH`)
  if (dirs.length === 0) throw new Error('no paths provided')
  for (const d of dirs) {
    const full = join(d, type)
    try {
      if (statSync(full).isFile()) return full
    } catch {}
  }
  throw new Error(`failed to find plugin ${goQuote(type)} in path [${dirs.join(' ')}]`)
}

/** Run a plugin with our environment plus CNI_COMMAND (and any overrides), config on stdin. */
export async function execPlugin(file: string, command: string, stdin: string, envOverrides: Record<string, string | undefined> = {}): Promise<ExecResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, CNI_COMMAND: command }
  for (const [k, v] of Object.entries(envOverrides)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  // "text file busy": the binary is being written (an upgrade); Go's invoke retries 5 times, 1 s apart.
  for (let attempt = 0; ; attempt++) {
    const r = fastSpawnSync(file, env, stdin) ?? (await portableSpawnSync(file, env, stdin))
    if (r.errno === ETXTBSY && attempt < 5) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
      continue
    }
    if (r.error) throw r.error
    const stderr = r.stderr.toString()
    if (stderr) writeAll(2, stderr)
    return { code: r.status ?? 128, stdout: r.stdout.toString(), stderr }
  }
}

const ETXTBSY = 26 // Linux

interface Spawned {
  status: number | null
  stdout: Buffer
  stderr: Buffer
  errno?: number
  error?: Error
}

// Synchronous, not spawn(): a one-shot plugin has nothing else to do while the delegate runs,
// and no streams or event-loop turns need setting up. Node's child_process module alone costs
// ~2-3 ms to load (it pulls in net, dgram, streams), more than the rest of this plugin; its
// spawnSync is a thin wrapper over the spawn_sync binding, which we call directly when this Node
// has it (it does on 20 and 22), with child_process as the fallback. The delegate's stderr is
// copied to ours when it exits.
function fastSpawnSync(file: string, env: NodeJS.ProcessEnv, input: string): Spawned | null {
  let binding: { spawn(o: object): { status: number | null; output: (Buffer | null)[] | null; error?: number } }
  try {
    binding = (process as unknown as { binding(n: string): typeof binding }).binding('spawn_sync')
    if (typeof binding?.spawn !== 'function') return null
  } catch {
    return null
  }
  const pipe = (i: number) => ({ type: 'pipe', readable: i === 0, writable: i !== 0 })
  let r: ReturnType<typeof binding.spawn>
  try {
    r = binding.spawn({
      file,
      args: [file],
      envPairs: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      stdio: [{ ...pipe(0), input: Buffer.from(input) }, pipe(1), pipe(2)],
      maxBuffer: 64 << 20,
      detached: false,
      windowsHide: false,
      windowsVerbatimArguments: false,
    })
  } catch {
    // An internal binding may change shape in a later Node: take the public path instead.
    return null
  }
  const out = r.output ?? []
  const res: Spawned = { status: r.status, stdout: out[1] ?? Buffer.alloc(0), stderr: out[2] ?? Buffer.alloc(0) }
  if (r.error) {
    res.errno = -r.error
    res.error = execError(file, -r.error)
  }
  return res
}

export async function portableSpawnSync(file: string, env: NodeJS.ProcessEnv, input: string): Promise<Spawned> {
  const { spawnSync } = await import('node:child_process')
  const r = spawnSync(file, [], { env, input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 })
  const e = r.error as NodeJS.ErrnoException | undefined
  const errno = e ? -(e.errno ?? 0) : undefined
  return { status: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr ?? Buffer.alloc(0), errno, error: e && execError(file, errno ?? 0) }
}

// Go's text for a failed exec, e.g. `fork/exec /opt/cni/bin/bridge: permission denied`.
function execError(file: string, errno: number): Error {
  const text: Record<number, string> = { 2: 'no such file or directory', 8: 'exec format error', 13: 'permission denied', 20: 'not a directory', 26: 'text file busy' }
  return new Error(`fork/exec ${file}: ${text[errno] ?? `errno ${errno}`}`)
}

/** Write all of text to fd (stdout/stderr) synchronously: no stream objects on the start-up path. */
export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text)
  let off = 0
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
}

/** A failed delegate's error as the Go lib reports it: its own CNI error JSON passed through unchanged. */
export function delegateError(r: ExecResult): CniError {
  const stdout = r.stdout
  if (stdout.length === 0) {
    if (r.stderr.length === 0) return new CniError(0, `netplugin failed with no error message: exit status ${r.code}`)
    return new CniError(0, `netplugin failed: ${goQuote(r.stderr)}`)
  }
  try {
    const e = JSON.parse(stdout) as unknown
    if (!isObject(e)) throw new Error(`json: cannot unmarshal ${Array.isArray(e) ? 'array' : typeof e} into Go value of type types.Error`)
    const code = e.code ?? 0
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 0) throw new Error(`json: cannot unmarshal ${typeof code} into Go struct field Error.code of type uint`)
    const str = (v: unknown, f: string) => {
      if (v === undefined || v === null) return ''
      if (typeof v !== 'string') throw new Error(`json: cannot unmarshal ${typeof v} into Go struct field Error.${f} of type string`)
      return v
    }
    return new CniError(code, str(e.msg, 'msg'), str(e.details, 'details'))
  } catch (x) {
    return new CniError(0, `netplugin failed but error parsing its diagnostic message ${goQuote(stdout)}: ${(x as Error).message}`)
  }
}
