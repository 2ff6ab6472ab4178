// Checks the plugin makes before it changes anything, and the one rule that lets a DEL always
// finish (issue 13). Node built-ins only: this is on every pod's start-up path.
import { closeSync, constants, fstatSync, openSync, readSync, statfsSync, statSync } from 'node:fs'
import { CniError, ERR, goFsError } from './error.ts'
import { isObject, jsonKind } from '../formats/cni-json.ts'
import type { CniArgs } from './env.ts'
import { writeAll } from './exec.ts'
import type { SubnetEnv } from '../formats/subnet-env.ts'

const NSFS_MAGIC = 0x6e736673
const PROC_MAGIC = 0x9fa0 // /proc/<pid>/ns/net on kernels before nsfs; the Go lib accepts both

function overridden(args: CniArgs): boolean {
  const o = args.netnsOverride
  return o.toUpperCase() === 'TRUE' || o === '1' || args.netns === ''
}

/** True when path names the plugin's own network namespace (same device and inode). */
function isOwnNetns(path: string): boolean {
  try {
    const a = statSync(path)
    const b = statSync('/proc/self/ns/net')
    return a.dev === b.dev && a.ino === b.ino
  } catch {
    return false
  }
}

/** 'ns' when path is a namespace file, 'missing' when it does not exist, else the FS magic in hex. */
function netnsKind(path: string): 'ns' | 'missing' | string {
  try {
    const t = statfsSync(path).type
    return t === NSFS_MAGIC || t === PROC_MAGIC ? 'ns' : t.toString(16)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'
    return (e as Error).message
  }
}

/**
 * Before ADD or CHECK: CNI_NETNS must be a network namespace that is not ours. The Go lib checks
 * "not ours" only after ADD succeeded, so it prints the result and then an error, and leaves the
 * veth behind; checked first, nothing is done and stdout holds one document.
 */
export function checkNetnsBefore(args: CniArgs): void {
  if (overridden(args)) return
  if (isOwnNetns(args.netns)) throw new CniError(ERR.invalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same")
  if (args.command !== 'ADD') return
  const kind = netnsKind(args.netns)
  if (kind === 'missing') throw new CniError(ERR.invalidNetns, `failed to open netns ${JSON.stringify(args.netns)}: no such file or directory`)
  // bridge refuses it too, but only after creating cni0, and its DEL then fails the same way forever
  if (kind !== 'ns') throw new CniError(ERR.invalidNetns, `failed to open netns ${JSON.stringify(args.netns)}: unknown FS magic on ${JSON.stringify(args.netns)}: ${kind}`)
}

/**
 * For DEL: the CNI_NETNS to hand the delegate. A path that exists but is not a namespace holds no
 * interface to remove, and bridge's DEL would fail on it forever ("unknown FS magic"); without it,
 * the delegate still releases the address.
 */
export function netnsForDel(args: CniArgs): Record<string, string | undefined> {
  if (overridden(args)) return {}
  if (isOwnNetns(args.netns)) throw new CniError(ERR.invalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same")
  const kind = netnsKind(args.netns)
  if (kind === 'ns' || kind === 'missing') return {}
  writeAll(2, `CNI_NETNS ${JSON.stringify(args.netns)} is not a network namespace (FS magic ${kind}): DEL runs the delegate without it\n`)
  return { CNI_NETNS: undefined }
}

/** subnet.env is a few hundred bytes; more than this is not one. */
export const MAX_SUBNET_FILE = 64 << 10

/**
 * A file's text, only if it is a regular file of at most `max` bytes. O_NONBLOCK so a FIFO cannot
 * block the open; fstat on the open fd, so a symlink to /dev/zero is judged by what it points to.
 */
export function readRegularFile(path: string, max = MAX_SUBNET_FILE): string {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (e) {
    throw Object.assign(new Error(goFsError('open', path, e)), { code: (e as NodeJS.ErrnoException).code })
  }
  try {
    const st = fstatSync(fd)
    if (st.isDirectory()) throw Object.assign(new Error(goFsError('read', path, { code: 'EISDIR' })), { code: 'EISDIR' })
    if (!st.isFile()) throw new Error(`read ${path}: not a regular file`)
    if (st.size > max) throw new Error(`read ${path}: larger than ${max} bytes`)
    const buf = Buffer.alloc(max + 1)
    let n = 0
    for (;;) {
      const k = readSync(fd, buf, n, buf.length - n, null)
      if (k === 0) break
      n += k
      if (n > max) throw new Error(`read ${path}: larger than ${max} bytes`)
    }
    return buf.toString('utf8', 0, n)
  } finally {
    closeSync(fd)
  }
}

// bridge's NetConf fields (containernetworking/plugins, plugins/main/bridge) and their Go types.
// Go matches JSON keys to fields case-insensitively, so the table is keyed in lower case.
const BRIDGE_FIELDS: Record<string, 'string' | 'bool' | 'int' | 'object' | 'array'> = {
  cniversion: 'string',
  name: 'string',
  type: 'string',
  bridge: 'string',
  ipmasqbackend: 'string',
  isgateway: 'bool',
  isdefaultgateway: 'bool',
  forceaddress: 'bool',
  ipmasq: 'bool',
  hairpinmode: 'bool',
  promiscmode: 'bool',
  preservedefaultvlan: 'bool',
  macspoofchk: 'bool',
  enabledad: 'bool',
  disablecontainerinterface: 'bool',
  portisolation: 'bool',
  mtu: 'int',
  vlan: 'int',
  capabilities: 'object',
  dns: 'object',
  args: 'object',
  runtimeconfig: 'object',
  ipam: 'object',
  vlantrunk: 'array',
}

/**
 * Refuse, before anything is saved, a bridge delegate config that bridge would refuse to load: it
 * would fail the ADD after creating cni0, then fail every DEL with the same saved bytes.
 */
export function checkDelegate(d: Record<string, unknown>): void {
  if (d.type !== 'bridge') return
  for (const [k, v] of Object.entries(d)) {
    const want = BRIDGE_FIELDS[k.toLowerCase()]
    if (!want || v === null) continue
    const ok =
      want === 'string'
        ? typeof v === 'string'
        : want === 'bool'
          ? typeof v === 'boolean'
          : want === 'int'
            ? typeof v === 'number' && Number.isSafeInteger(v)
            : want === 'object'
              ? isObject(v)
              : Array.isArray(v)
    const goType = { string: 'string', bool: 'bool', int: 'int', object: 'struct', array: 'slice' }[want]
    const got = typeof v === 'number' ? `number ${v}` : jsonKind(v)
    if (!ok) throw new CniError(ERR.invalidConfig, `delegate field ${JSON.stringify(k)}: json: cannot unmarshal ${got} into Go struct field NetConf.${k} of type ${goType}`)
  }
  const vlan = Object.entries(d).find(([k]) => k.toLowerCase() === 'vlan')?.[1]
  if (typeof vlan === 'number' && (vlan < 0 || vlan > 4094)) throw new CniError(ERR.invalidConfig, `delegate field "vlan": invalid VLAN ID ${vlan} (must be between 0 and 4094)`)
  const mtu = Object.entries(d).find(([k]) => k.toLowerCase() === 'mtu')?.[1]
  if (typeof mtu === 'number' && (mtu < 0 || mtu > 65535)) throw new CniError(ERR.invalidConfig, `delegate field "mtu": ${mtu} is not an MTU (0 to 65535)`)
}

/**
 * The rule that lets DEL finish: a delegate that refuses the saved config itself (as invalid,
 * undecodable or of an unsupported version) refused it at ADD too, before it created anything,
 * and will refuse it forever; retrying cannot help and keeping the file blocks the pod. Codes
 * 1, 2, 6, 7 say so in the spec's words; the reference plugins say it with code 999 and their
 * config loaders' messages.
 */
export function configRejected(e: CniError): boolean {
  if ([ERR.incompatibleVersion, ERR.unsupportedField, ERR.decoding, ERR.invalidConfig].includes(e.code as 1)) return true
  return /^(failed to load netconf: |error parsing configuration|invalid range set \d+: |json: cannot unmarshal |IPAM config missing)/.test(e.message)
}

/** host-local refuses a range with fewer than 4 addresses ("too small to allocate from"), at ADD and at every DEL. */
export function checkSubnetSize(env: SubnetEnv): void {
  for (const c of [env.subnet, env.ipv6Subnet]) {
    if (c && c.prefix > (c.family === 4 ? 30 : 126))
      throw new Error(`FLANNEL_${c.family === 6 ? 'IPV6_' : ''}SUBNET ${c.text} is too small to allocate from (host-local needs a /${c.family === 4 ? 30 : 126} or larger)`)
  }
}
