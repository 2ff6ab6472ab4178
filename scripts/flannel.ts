// The `flannel` CNI plugin, a drop-in for flannel-io/cni-plugin (reference/cni.md sections 1-2):
// ADD reads subnet.env, builds the bridge + host-local delegate config, saves it under
// dataDir/<containerID> and runs the delegate; DEL replays the saved config. Our additions
// (docs/cni-plugin.md): a failed ADD is rolled back, DEL keeps the file until the delegate's DEL
// succeeded, CHECK is forwarded, STATUS reports a missing subnet.env, GC frees leaked addresses.
// Start-up is the cost of every pod: only node built-ins and small lib modules are imported.
import { CniError, ERR, formatError, toCniError } from './lib/cni/error.ts'
import { about, checkVersion, COMMANDS, confVersion, readEnv, readStdin, SUPPORTED, validateConfig, versionAtLeast, versionText, type CniArgs } from './lib/cni/env.ts'
import { buildDelegateConfig } from './lib/cni/delegate-config.ts'
import { delegateError, execPlugin, findPlugin, writeAll, type ExecResult } from './lib/cni/exec.ts'
import { checkDelegate, checkNetnsBefore, checkSubnetSize, configRejected, netnsForDel, readRegularFile } from './lib/cni/guard.ts'
import { goJson, isObject } from './lib/formats/cni-json.ts'
import { decodeNetConf, type NetConf } from './lib/cni/netconf.ts'
import { formatResult, withRouteGateways } from './lib/cni/result.ts'
import { listScratch, listTemps, loadScratch, removeScratch, removeTemp, saveScratch } from './lib/cni/store.ts'
import { parseSubnetEnv, type SubnetEnv } from './lib/formats/subnet-env.ts'

async function main(): Promise<void> {
  const args = readEnv(process.env)
  if (!args) return void writeAll(2, about())
  if (args.command === 'VERSION') return void writeAll(1, versionText())
  const raw = validateConfig(readStdin().toString('utf8'))
  if (!COMMANDS.includes(args.command)) throw new CniError(ERR.invalidEnv, `unknown CNI_COMMAND: ${args.command}`)
  checkVersion(args.command, confVersion(raw))
  switch (args.command) {
    case 'ADD':
      checkNetnsBefore(args) // before anything is done: stdout then holds one document, never two
      return void writeAll(1, await cmdAdd(args, raw))
    case 'DEL':
      return cmdDel(args, raw, netnsForDel(args))
    case 'CHECK':
      checkNetnsBefore(args)
      return cmdCheck(args, raw)
    case 'STATUS':
      return cmdStatus(raw)
    case 'GC':
      return cmdGc(args, raw)
  }
}

async function cmdAdd(args: CniArgs, raw: Record<string, unknown>): Promise<string> {
  const n = netconf(raw, 'failed to load flannel netconf file: failed to load netconf: ')
  const env = loadSubnetEnv(n.subnetFile)
  let bytes = buildDelegateConfig(n, env)
  const delegate = JSON.parse(bytes) as { type: string; cniVersion?: string }
  checkDelegate(delegate)
  // Found before the scratch file is written (flannel writes first): a bad type leaves nothing.
  const plugin = prefixed('failed to delegate add: ', () => findPlugin(delegate.type, args.path))
  let r = await delegateAdd(args, n, plugin, bytes)
  if (r.code !== 0 && delegateError(r).code === ERR.incompatibleVersion && delegate.cniVersion) {
    // e.g. a 1.1.0 conflist and Debian's bridge, which stops at 1.0.0: it created nothing, so
    // ask it what it speaks and send the highest version both support instead.
    const v = await commonVersion(plugin, delegate.cniVersion)
    if (v) {
      writeAll(2, `delegate ${delegate.type} does not support cniVersion ${delegate.cniVersion}: using ${v}, the highest version both support\n`)
      removeScratch(n.dataDir, args.containerId)
      bytes = buildDelegateConfig({ ...n, cniVersion: v }, env)
      r = await delegateAdd(args, n, plugin, bytes)
      if (r.code === 0) r = { ...r, stdout: relabel(r.stdout, v, delegate.cniVersion) }
    }
  }
  if (r.code !== 0) {
    // Roll back (flannel leaks the file and the IP): DEL with the same config, then drop the file.
    // If that DEL fails too, the file stays so the runtime's own DEL can finish the job, unless
    // the delegate refuses the config itself (then no DEL can ever succeed, and none is needed).
    const undo = await execPlugin(plugin, 'DEL', bytes).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }))
    const undoErr = undo.code === 0 ? null : delegateError(undo)
    if (!undoErr || configRejected(undoErr)) removeScratch(n.dataDir, args.containerId)
    else writeAll(2, `rollback DEL of ${args.containerId} failed: ${undoErr.message}\n`)
    throw delegateError(r)
  }
  return prefixed('failed to delegate add: ', () => formatResult(r.stdout, delegate.cniVersion ?? ''))
}

/** Save the delegate config, then run the delegate's ADD with it. */
async function delegateAdd(args: CniArgs, n: NetConf, plugin: string, bytes: string): Promise<ExecResult> {
  writeAll(2, `delegateAdd: netconf sent to delegate plugin:\n${bytes}\n`)
  saveScratch(n.dataDir, args.containerId, bytes)
  try {
    return await execPlugin(plugin, 'ADD', bytes)
  } catch (e) {
    removeScratch(n.dataDir, args.containerId) // it never ran: nothing to undo but our file
    throw new Error(`failed to delegate add: ${(e as Error).message}`)
  }
}

/** The highest version at most `want` that we and the delegate (asked with VERSION) both support. */
async function commonVersion(plugin: string, want: string): Promise<string | undefined> {
  const r = await execPlugin(plugin, 'VERSION', `{"cniVersion":${JSON.stringify(want)}}`).catch(() => null)
  let theirs: unknown
  try {
    theirs = r && r.code === 0 ? (JSON.parse(r.stdout) as { supportedVersions?: unknown }).supportedVersions : undefined
  } catch {}
  if (!Array.isArray(theirs)) return undefined
  return SUPPORTED.filter((v) => theirs.includes(v) && versionAtLeast(want, v) && v !== want).pop()
}

/** A 1.0.0 result is a 1.1.0 result but for its label: the runtime asked for 1.1.0. */
function relabel(stdout: string, got: string, want: string): string {
  if (!(got === '1.0.0' && want === '1.1.0')) return stdout
  try {
    const o = JSON.parse(stdout) as Record<string, unknown>
    if (isObject(o) && o.cniVersion === got) return JSON.stringify({ ...o, cniVersion: want })
  } catch {}
  return stdout
}

async function cmdDel(args: CniArgs, raw: Record<string, unknown>, netnsEnv: Record<string, string | undefined>): Promise<void> {
  const n = netconf(raw, 'failed to load netconf: ')
  removeTemp(n.dataDir, args.containerId) // left by an ADD killed before its rename
  const saved = loadScratch(n.dataDir, args.containerId)
  if (saved === null) return // already gone: DEL is idempotent
  const conf = parseSaved(saved)
  if (!conf) {
    // flannel#1662: an empty or unparsable file must not block the pod's deletion, nor stay
    writeAll(2, `removing the unusable scratch file of ${args.containerId}\n`)
    return removeScratch(n.dataDir, args.containerId)
  }
  const r = await execPlugin(findPlugin(conf.type, args.path), 'DEL', saved, netnsEnv)
  if (r.code !== 0) {
    const e = delegateError(r)
    if (!configRejected(e)) throw e // file kept: a retried DEL runs the delegate again
    writeAll(2, `${giveUp(args.containerId, e)}\n`)
  }
  removeScratch(n.dataDir, args.containerId)
}

function giveUp(id: string, e: CniError): string {
  return `the delegate refuses the config saved for ${id} (${e.message}${e.details ? `; ${e.details}` : ''}): it refused it at ADD too and created nothing with it; scratch file removed`
}

/** CHECK (0.4.0+): the saved delegate config plus the runtime's prevResult, sent to the delegate. */
async function cmdCheck(args: CniArgs, raw: Record<string, unknown>): Promise<void> {
  const n = netconf(raw, 'failed to load netconf: ')
  const saved = loadScratch(n.dataDir, args.containerId)
  if (saved === null) throw new CniError(ERR.unknownContainer, `no saved delegate config for container ${args.containerId} (no ADD, or already deleted)`)
  const conf = parseSaved(saved)
  if (!conf) throw new CniError(ERR.internal, `failed to parse netconf saved at ADD for container ${args.containerId}`)
  const obj = JSON.parse(saved) as Record<string, unknown>
  if (!versionAtLeast(conf.cniVersion || '0.1.0', '0.4.0')) return // the delegate cannot CHECK below 0.4.0
  if (n.prevResult) obj.prevResult = conf.type === 'bridge' ? withRouteGateways(n.prevResult) : n.prevResult
  const r = await execPlugin(findPlugin(conf.type, args.path), 'CHECK', goJson(obj))
  if (r.code !== 0) throw delegateError(r)
}

/** STATUS (1.1.0): not ready (code 50) until flanneld has written a valid subnet.env. Not forwarded. */
function cmdStatus(raw: Record<string, unknown>): void {
  const n = netconf(raw, 'failed to load netconf: ')
  try {
    loadSubnetEnv(n.subnetFile)
  } catch (e) {
    throw new CniError(ERR.unavailable, `flannel is not ready: ${(e as Error).message}`)
  }
}

/** GC (1.1.0): DEL, with its saved config, every saved attachment the runtime no longer lists. */
async function cmdGc(args: CniArgs, raw: Record<string, unknown>): Promise<void> {
  const n = netconf(raw, 'failed to load netconf: ')
  if (!n.validAttachments) return void writeAll(2, 'GC: no cni.dev/valid-attachments in the config; nothing removed\n')
  const valid = new Set(n.validAttachments.map((a) => a.containerID))
  const ifnames = new Map((n.attachments ?? []).map((a) => [a.containerID, a.ifname]))
  const errors: string[] = []
  for (const id of listTemps(n.dataDir)) if (!valid.has(id)) removeTemp(n.dataDir, id)
  for (const id of listScratch(n.dataDir)) {
    if (valid.has(id)) continue
    try {
      const saved = loadScratch(n.dataDir, id)
      if (saved === null) continue
      const conf = parseSaved(saved)
      if (!conf) {
        writeAll(2, `GC: removing the unusable scratch file of ${id}\n`)
        removeScratch(n.dataDir, id)
        continue
      }
      // The scratch file does not record the interface; Kubernetes always uses eth0.
      const env = { CNI_CONTAINERID: id, CNI_IFNAME: ifnames.get(id) || 'eth0', CNI_NETNS: undefined, CNI_ARGS: undefined }
      const r = await execPlugin(findPlugin(conf.type, args.path), 'DEL', saved, env)
      if (r.code !== 0) {
        const e = delegateError(r)
        if (!configRejected(e)) throw e
        writeAll(2, `GC: ${giveUp(id, e)}\n`)
      }
      removeScratch(n.dataDir, id)
    } catch (e) {
      errors.push(`${id}: ${(e as Error).message}`)
    }
  }
  if (errors.length) throw new CniError(ERR.internal, `GC could not release ${errors.length} stale attachment(s): ${errors.join('; ')}`)
}

function netconf(raw: Record<string, unknown>, prefix: string): NetConf {
  return prefixed(prefix, () => decodeNetConf(raw))
}

/** The saved delegate config, or null (logged) when it does not parse. */
function parseSaved(saved: string): NetConf | null {
  try {
    const o = JSON.parse(saved) as unknown
    if (!isObject(o)) throw new Error('json: cannot unmarshal non-object into Go value of type types.NetConf')
    return decodeNetConf(o)
  } catch (e) {
    writeAll(2, `failed to parse netconf: ${(e as Error).message}\n`)
    return null
  }
}

function loadSubnetEnv(path: string): SubnetEnv {
  const wrap = (m: string) => `failed to load flannel 'subnet.env' file: ${m}. Check the flannel pod log for this node.`
  let text: string
  try {
    text = readRegularFile(path)
  } catch (e) {
    // Missing means flanneld is not up yet: "try again later" rather than a hard failure.
    throw new CniError((e as NodeJS.ErrnoException).code === 'ENOENT' ? ERR.tryAgainLater : ERR.internal, wrap((e as Error).message))
  }
  try {
    const env = parseSubnetEnv(text, path)
    checkSubnetSize(env)
    return env
  } catch (e) {
    throw new CniError(ERR.internal, wrap((e as Error).message))
  }
}

function prefixed<T>(prefix: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof CniError) throw e
    throw new Error(prefix + (e as Error).message)
  }
}

// Exit at once: every write above is synchronous, and a natural exit spends milliseconds tearing
// down the heap and isolate that a one-shot plugin, run twice per pod, has no use for.
main().then(
  () => process.exit(0),
  (e) => {
    writeAll(1, formatError(toCniError(e)))
    process.exit(1)
  },
)
