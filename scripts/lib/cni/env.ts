// What the Go lib's skel checks before a plugin's handler runs (reference/cni.md section 1.1):
// the CNI_* variables in their order with their codes and messages, stdin, the network name, and
// the version rules of each command. Done before any file is touched, so a hostile container ID
// or interface name never reaches a path.
import { readSync } from 'node:fs'
import { CniError, ERR } from './error.ts'
import { goQuote, isObject, jsonKind } from '../formats/cni-json.ts'

export const SUPPORTED = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']
export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC']
export const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
/** A runtime's network config is a few KB; refuse to buffer more than this from stdin. */
export const MAX_STDIN = 1 << 20

export interface CniArgs {
  command: string
  containerId: string
  netns: string
  ifname: string
  args: string
  path: string
  netnsOverride: string
}

const REQUIRED: Record<string, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
}
const ORDER = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH', 'CNI_NETNS_OVERRIDE']

/** Read and validate the CNI_* variables; null means "no CNI_COMMAND" (print the about text). */
export function readEnv(env: NodeJS.ProcessEnv): CniArgs | null {
  const v = (k: string) => env[k] ?? ''
  const command = v('CNI_COMMAND')
  if (command === '') return null
  const required = REQUIRED[command] ?? []
  const missing: string[] = []
  for (const name of ORDER.slice(1)) {
    const val = v(name)
    if (!required.includes(name)) continue
    if (val === '') missing.push(name)
    else if (name === 'CNI_CONTAINERID') validateContainerId(val)
    else if (name === 'CNI_IFNAME') validateIfname(val)
  }
  if (missing.length) throw new CniError(ERR.invalidEnv, `required env variables [${missing.join(',')}] missing`)
  return {
    command,
    containerId: v('CNI_CONTAINERID'),
    netns: v('CNI_NETNS'),
    ifname: v('CNI_IFNAME'),
    args: v('CNI_ARGS'),
    path: v('CNI_PATH'),
    netnsOverride: v('CNI_NETNS_OVERRIDE'),
  }
}

export function validateContainerId(id: string): void {
  if (id === '') throw new CniError(ERR.unknownContainer, 'missing containerID')
  if (!ID_RE.test(id)) throw new CniError(ERR.invalidEnv, 'invalid characters in containerID', id)
}

export function validateIfname(name: string): void {
  if (name === '') throw new CniError(ERR.invalidEnv, 'interface name is empty')
  if (Buffer.byteLength(name) > 15) throw new CniError(ERR.invalidEnv, 'interface name is too long', 'interface name should be less than 16 characters')
  if (name === '.' || name === '..') throw new CniError(ERR.invalidEnv, 'interface name is . or ..')
  if (/[/:\s]/u.test(name)) throw new CniError(ERR.invalidEnv, 'interface name contains / or : or whitespace characters')
}

export function about(): string {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' }
  return `CNI Plugin flannel version weft-0.1.0 (linux/${arch[process.arch] ?? process.arch}) commit weft\nCNI protocol versions supported: ${SUPPORTED.join(', ')}\n`
}

export function versionText(): string {
  return `{"cniVersion":"1.1.0","supportedVersions":${JSON.stringify(SUPPORTED)}}\n`
}

/** stdin, at most MAX_STDIN bytes (read synchronously: no stream set-up on the start-up path). */
export function readStdin(fd = 0): Buffer {
  const chunks: Buffer[] = []
  let total = 0
  const buf = Buffer.alloc(65536)
  for (;;) {
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2)
        continue
      }
      if (code === 'EOF' || code === 'EBADF' || code === 'EINVAL') break
      throw new CniError(ERR.io, `error reading from stdin: ${(e as Error).message}`)
    }
    if (n === 0) break
    total += n
    if (total > MAX_STDIN) throw new CniError(ERR.io, `error reading from stdin: the network config is larger than ${MAX_STDIN} bytes`)
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
  return Buffer.concat(chunks)
}

/** The skel's stdin checks: JSON, an object (or null), a valid non-empty network name. */
export function validateConfig(text: string): Record<string, unknown> {
  let conf: unknown
  try {
    conf = JSON.parse(text)
  } catch (e) {
    throw new CniError(ERR.decoding, `error unmarshall network config: ${(e as Error).message}`)
  }
  if (conf !== null && !isObject(conf)) {
    throw new CniError(ERR.decoding, `error unmarshall network config: json: cannot unmarshal ${jsonKind(conf)} into Go value of type struct { Name string "json:\\"name\\"" }`)
  }
  const obj = conf ?? {}
  const name = obj.name ?? ''
  if (typeof name !== 'string') {
    throw new CniError(ERR.decoding, `error unmarshall network config: json: cannot unmarshal ${jsonKind(name)} into Go struct field .name of type string`)
  }
  if (name === '') throw new CniError(ERR.invalidConfig, 'missing network name')
  if (!ID_RE.test(name)) throw new CniError(ERR.invalidConfig, 'invalid characters found in network name', name)
  return obj
}

/** The config's cniVersion ("" or absent means 0.1.0). */
export function confVersion(conf: Record<string, unknown>): string {
  const v = conf.cniVersion ?? ''
  if (typeof v !== 'string') {
    throw new CniError(ERR.decoding, `decoding version from network config: json: cannot unmarshal ${jsonKind(v)} into Go struct field .cniVersion of type string`)
  }
  return v === '' ? '0.1.0' : v
}

function parseVersion(v: string): number[] {
  const parts = v.split('.')
  if (parts.length >= 4) throw new CniError(ERR.decoding, `invalid version ${goQuote(v)}: too many parts`)
  const names = ['major', 'minor', 'micro']
  return [0, 1, 2].map((i) => {
    const p = parts[i] ?? '0'
    if (!/^[+-]?\d+$/.test(p)) throw new CniError(ERR.decoding, `failed to convert ${names[i]} version part ${goQuote(p)}: strconv.Atoi: parsing ${goQuote(p)}: invalid syntax`)
    return Number(p)
  })
}

export function versionAtLeast(v: string, min: string): boolean {
  const a = parseVersion(v)
  const b = parseVersion(min)
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i]
  return true
}

/** The version rules of each command (skel): CHECK needs 0.4.0+, GC/STATUS 1.1.0+, then an exact match. */
export function checkVersion(command: string, version: string): void {
  const min: Record<string, string> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' }
  if (min[command] && !versionAtLeast(version, min[command])) {
    throw new CniError(ERR.incompatibleVersion, `config version does not allow ${command}`)
  }
  if (!SUPPORTED.includes(version)) {
    const list = SUPPORTED.map((s) => goQuote(s)).join(' ')
    throw new CniError(ERR.incompatibleVersion, 'incompatible CNI versions', `config is ${goQuote(version)}, plugin supports [${list}]`)
  }
}
