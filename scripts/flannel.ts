// The `flannel` CNI plugin, a drop-in for flannel-io/cni-plugin (reference/cni.md sections 1-2):
// ADD reads subnet.env, builds the bridge + host-local delegate config, saves it under
// dataDir/<containerID> and runs the delegate; DEL replays the saved config. Our additions
// (docs/cni-plugin.md): a failed ADD is rolled back, DEL keeps the file until the delegate's DEL
// succeeded, CHECK is forwarded, STATUS reports a missing subnet.env, GC frees leaked addresses.
// Start-up is the cost of every pod: only node built-ins and small lib modules are imported.
import { readFileSync, statSync } from 'node:fs'
import { CniError, ERR, formatError, goFsError, toCniError } from './lib/cni/error.ts'
import { about, checkVersion, COMMANDS, confVersion, readEnv, readStdin, validateConfig, versionAtLeast, versionText, type CniArgs } from './lib/cni/env.ts'
import { buildDelegateConfig } from './lib/cni/delegate-config.ts'
import { delegateError, execPlugin, findPlugin, writeAll } from './lib/cni/exec.ts'
import { goJson, isObject } from './lib/formats/cni-json.ts'
import { decodeNetConf, type NetConf } from './lib/cni/netconf.ts'
import { formatResult, withRouteGateways } from './lib/cni/result.ts'
import { listScratch, loadScratch, removeScratch, saveScratch } from './lib/cni/store.ts'
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
      writeAll(1, await cmdAdd(args, raw))
      return checkNetns(args)
    case 'DEL':
      await cmdDel(args, raw)
      return checkNetns(args)
    case 'CHECK':
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
  const bytes = buildDelegateConfig(n, env)
  writeAll(2, `delegateAdd: netconf sent to delegate plugin:\n${bytes}\n`)
  const delegate = JSON.parse(bytes) as { type: string; cniVersion?: string }
  // Found before the scratch file is written (flannel writes first): a bad type leaves nothing.
  const plugin = prefixed('failed to delegate add: ', () => findPlugin(delegate.type, args.path))
  saveScratch(n.dataDir, args.containerId, bytes)
  let r
  try {
    r = await execPlugin(plugin, 'ADD', bytes)
  } catch (e) {
    removeScratch(n.dataDir, args.containerId) // it never ran: nothing to undo but our file
    throw new Error(`failed to delegate add: ${(e as Error).message}`)
  }
  if (r.code !== 0) {
    // Roll back (flannel leaks the file and the IP): DEL with the same config, then drop the file.
    // If that DEL fails too, the file stays so the runtime's own DEL can finish the job.
    const undo = await execPlugin(plugin, 'DEL', bytes).catch((e: Error) => ({ code: 1, stdout: '', stderr: e.message }))
    if (undo.code === 0) removeScratch(n.dataDir, args.containerId)
    else writeAll(2, `rollback DEL of ${args.containerId} failed: ${delegateError(undo).message}\n`)
    throw delegateError(r)
  }
  return prefixed('failed to delegate add: ', () => formatResult(r.stdout, delegate.cniVersion ?? ''))
}

async function cmdDel(args: CniArgs, raw: Record<string, unknown>): Promise<void> {
  const n = netconf(raw, 'failed to load netconf: ')
  const saved = loadScratch(n.dataDir, args.containerId)
  if (saved === null) return // already gone: DEL is idempotent
  const conf = parseSaved(saved)
  if (!conf) return // flannel#1662: an unparsable file must not block the pod's deletion
  const r = await execPlugin(findPlugin(conf.type, args.path), 'DEL', saved)
  if (r.code !== 0) throw delegateError(r) // file kept: a retried DEL runs the delegate again
  removeScratch(n.dataDir, args.containerId)
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
  for (const id of listScratch(n.dataDir)) {
    if (valid.has(id)) continue
    try {
      const saved = loadScratch(n.dataDir, id)
      const conf = saved === null ? null : parseSaved(saved)
      if (saved === null || !conf) continue
      // The scratch file does not record the interface; Kubernetes always uses eth0.
      const env = { CNI_CONTAINERID: id, CNI_IFNAME: ifnames.get(id) || 'eth0', CNI_NETNS: undefined, CNI_ARGS: undefined }
      const r = await execPlugin(findPlugin(conf.type, args.path), 'DEL', saved, env)
      if (r.code !== 0) throw delegateError(r)
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
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    // Missing means flanneld is not up yet: "try again later" rather than a hard failure.
    throw new CniError(code === 'ENOENT' ? ERR.tryAgainLater : ERR.internal, wrap(goFsError(code === 'EISDIR' ? 'read' : 'open', path, e)))
  }
  try {
    return parseSubnetEnv(text, path)
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

/** The Go lib refuses (after the fact) a CNI_NETNS that is the plugin's own netns. */
function checkNetns(args: CniArgs): void {
  const o = args.netnsOverride
  if (o.toUpperCase() === 'TRUE' || o === '1' || args.netns === '') return
  try {
    const a = statSync(args.netns)
    const b = statSync('/proc/self/ns/net')
    if (a.dev === b.dev && a.ino === b.ino) throw new CniError(ERR.invalidNetns, "plugin's netns and netns from CNI_NETNS should not be the same")
  } catch (e) {
    if (e instanceof CniError) throw e
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
