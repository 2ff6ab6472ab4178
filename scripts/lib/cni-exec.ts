// Finding and running a delegate plugin as the Go lib's invoke package does (reference/cni.md
// section 1.4 steps 9-10). A CNI delegate is exec'd, not a shell command: it is run with
// node's child_process directly (no bash, no zx) because the plugin runs once per pod and every
// millisecond of start-up counts (see docs/cni-plugin.md, "Performance"); argv is the binary alone,
// so there is nothing to quote. Its stderr is copied to ours as it arrives.
import { spawn } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { CniError } from './cni-error.ts'
import { goQuote, isObject } from './cni-json.ts'

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
    try {
      return await once(file, env, stdin)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ETXTBSY' || attempt >= 5) throw e
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}

function once(file: string, env: NodeJS.ProcessEnv, stdin: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    p.stdout.on('data', (b: Buffer) => out.push(b))
    p.stderr.on('data', (b: Buffer) => {
      err.push(b)
      process.stderr.write(b)
    })
    p.on('error', reject)
    p.on('close', (code, signal) => {
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    })
    p.stdin.on('error', () => {}) // a plugin that exits without reading stdin must not crash us (EPIPE)
    p.stdin.end(stdin)
  })
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
