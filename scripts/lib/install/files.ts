// What weft-install writes, as data: the files (path, bytes, mode) and the plugin links, so
// --dry-run can print them and the tests can compare them exactly. The conflist is kube-flannel's
// cni-conf.json, byte for byte unless --subnet-file / --data-dir move the plugin's files.
import { join, dirname } from 'node:path'
import { unitText, TMPFILES_TEXT } from './unit.ts'
import type { PluginLink } from './plugins.ts'

export interface FileOut {
  /** the path on the node (weft-install adds --root) */
  path: string
  mode: number
  /** contents, or the source file to copy */
  text?: string
  from?: string
}

export interface InstallOptions {
  distDir: string
  binDir: string
  cniBinDir: string
  cniConfDir: string
  systemdDir: string
  envFile: string
  /** flanneld's arguments in the unit */
  flanneldArgs: string[]
  /** flanneld's --subnet-file (after FLANNELD_SUBNET_FILE), for the conflist and the unit */
  subnetFile: string
  /** the flannel plugin's dataDir; '' for its default */
  dataDir: string
  conflist: boolean
  /** a conflist to install as it is (a ConfigMap's cni-conf.json) instead of kube-flannel's */
  conflistText?: string
  plugin: boolean
  daemon: boolean
  unit: boolean
  links: PluginLink[]
}

export const DAEMON_BUNDLES = ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes']
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env'
export const TMPFILES_PATH = '/etc/tmpfiles.d/weft.conf'

export function conflistText(subnetFile = DEFAULT_SUBNET_FILE, dataDir = ''): string {
  const flannel: Record<string, unknown> = { type: 'flannel' }
  // Only when moved: the default conflist stays kube-flannel's exactly.
  if (subnetFile !== DEFAULT_SUBNET_FILE) flannel.subnetFile = subnetFile
  if (dataDir) flannel.dataDir = dataDir
  flannel.delegate = { hairpinMode: true, isDefaultGateway: true }
  return JSON.stringify({ name: 'cbr0', cniVersion: '0.3.1', plugins: [flannel, { type: 'portmap', capabilities: { portMappings: true } }] }, null, 2) + '\n'
}

export const CONFLIST = conflistText()

export function installPlan(o: InstallOptions): FileOut[] {
  const files: FileOut[] = []
  if (o.plugin) files.push({ path: join(o.cniBinDir, 'flannel'), mode: 0o755, from: join(o.distDir, 'flannel') })
  if (o.daemon) for (const b of DAEMON_BUNDLES) files.push({ path: join(o.binDir, b), mode: 0o755, from: join(o.distDir, b) })
  if (o.conflist) files.push({ path: join(o.cniConfDir, '10-flannel.conflist'), mode: 0o644, text: o.conflistText ?? conflistText(o.subnetFile, o.dataDir) })
  if (o.unit) {
    files.push({
      path: join(o.systemdDir, 'flanneld.service'),
      mode: 0o644,
      text: unitText({ binDir: o.binDir, args: o.flanneldArgs, subnetFile: o.subnetFile, envFile: o.envFile }),
    })
    files.push({ path: TMPFILES_PATH, mode: 0o644, text: TMPFILES_TEXT })
  }
  return files
}

/** Directories the daemon needs that nothing else makes: the subnet file's, outside /run. */
export function extraDirs(o: InstallOptions): string[] {
  const d = dirname(o.subnetFile)
  return o.unit && !d.startsWith('/run/') ? [d] : []
}
