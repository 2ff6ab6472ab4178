// weft-install: puts weft where a node's runtime and init system look for it, from cloud-init, an
// image build or by hand: the CNI plugin into /opt/cni/bin/flannel, flanneld and its parts into
// /opt/bin, the kube-flannel conflist into /etc/cni/net.d/10-flannel.conflist (with the reference
// plugins it needs linked beside the plugin), and a hardened systemd unit. Everything is checked
// before anything is written: flanneld's flags with flanneld's own parser, the plugins, the
// bundles. A manifest of what was written lets --uninstall remove exactly that.
import { existsSync, statSync, readFileSync } from 'node:fs'
import { dirname, join, isAbsolute } from 'node:path'
import { parseFlags, helpText, UsageError } from './lib/core/flags.ts'
import { runMain } from './lib/core/cli.ts'
import { errText } from './lib/core/log.ts'
import { installPlan, extraDirs, TMPFILES_PATH } from './lib/install/files.ts'
import { pluginLinks } from './lib/install/plugins.ts'
import { preflight, showChecks } from './lib/install/preflight.ts'
import { readManifest, mergeManifest, manifestText, uninstall, MANIFEST_PATH } from './lib/install/manifest.ts'
import { writePlan, writeAtomic, missingDirs } from './lib/install/write.ts'
import { readEnvFile } from './lib/install/env-file.ts'
import { parseFlanneldArgs, flanneldValueError } from './lib/daemon/flanneld-flags.ts'

const SPEC = {
  root: { type: 'string', default: '/', help: 'install under this directory (for images and tests)', arg: 'dir' },
  'bin-dir': { type: 'string', default: '/opt/bin', help: 'where flanneld and its parts go (flannel image path)', arg: 'dir' },
  'cni-bin-dir': { type: 'string', default: '/opt/cni/bin', help: 'where the CNI plugin goes (the reference plugins are linked here when missing)', arg: 'dir' },
  'cni-conf-dir': { type: 'string', default: '/etc/cni/net.d', help: 'where 10-flannel.conflist goes', arg: 'dir' },
  'systemd-dir': { type: 'string', default: '/etc/systemd/system', help: 'where flanneld.service goes', arg: 'dir' },
  'env-file': { type: 'string', default: '/etc/default/flanneld', help: "the unit's EnvironmentFile (FLANNELD_* variables; checked now if it exists)", arg: 'file' },
  'data-dir': { type: 'string', help: "the flannel plugin's dataDir in the conflist (default: the plugin's, /var/lib/cni/flannel)", arg: 'dir' },
  'conflist-file': { type: 'string', help: "install this conflist (JSON, checked) instead of kube-flannel's, e.g. a ConfigMap's cni-conf.json", arg: 'file' },
  'no-conflist': { type: 'bool', help: 'do not write the conflist (nor look for the plugins it needs)' },
  'no-plugin': { type: 'bool', help: 'do not install the CNI plugin (a DaemonSet installs it and the conflist in two steps)' },
  'no-daemon': { type: 'bool', help: 'do not install flanneld and its parts (they run in a container)' },
  'no-unit': { type: 'bool', help: 'do not write the systemd unit' },
  uninstall: { type: 'bool', help: 'remove what weft-install installed here (its manifest), nothing else' },
  'dry-run': { type: 'bool', help: 'print what would be written or removed, change nothing' },
  help: { type: 'bool', help: 'show this help' },
} as const

// Flags that would make the unit print something and exit instead of running the daemon.
const NOT_IN_UNIT = ['help', 'h', 'version', 'dry-run']

function main(): void {
  const f = parseFlags(process.argv.slice(2), SPEC)
  if (f.help) return void process.stdout.write(helpText('weft-install [flags] [-- flanneld flags...]', SUMMARY, SPEC))
  for (const k of ['root', 'bin-dir', 'cni-bin-dir', 'cni-conf-dir', 'systemd-dir', 'env-file'] as const) {
    if (!isAbsolute(f[k])) throw new UsageError(`--${k} must be an absolute path, got ${JSON.stringify(f[k])}`)
  }
  if (f['conflist-file'] && (f['no-conflist'] || f['data-dir'])) throw new UsageError('--conflist-file installs that file as it is: not with --no-conflist or --data-dir')
  if (f['data-dir'] && !isAbsolute(f['data-dir'])) throw new UsageError(`--data-dir must be an absolute path, got ${JSON.stringify(f['data-dir'])}`)
  const root = f.root
  const out = (line: string) => process.stdout.write(line + '\n')

  if (f.uninstall) {
    if (f._.length) throw new UsageError('--uninstall takes no flanneld flags')
    const m = readManifest(root)
    if (!m) throw new Error(`nothing to uninstall: no ${join(root, MANIFEST_PATH)} (weft-install writes it)`)
    for (const line of uninstall(root, m, f['dry-run'])) out(line)
    return
  }

  // 1. flanneld's flags, as flanneld will read them: the command line over the unit's EnvironmentFile.
  const args = f._
  for (const a of args) {
    const name = /^--?([^=]+)/.exec(a)?.[1]
    if (name && NOT_IN_UNIT.includes(name)) throw new UsageError(`flanneld flag ${a} does not belong in a unit (flanneld would exit at once)`)
  }
  const envFile = readEnvFile(join(root, f['env-file']))
  let fl
  try {
    fl = parseFlanneldArgs(args, envFile)
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`flanneld flags: ${e.message}`)
    throw e
  }
  if (fl._.length) throw new UsageError(`flanneld flags: flanneld takes no arguments, got ${JSON.stringify(fl._[0])}`)
  const bad = flanneldValueError(fl)
  if (bad) throw new UsageError(`flanneld flags: ${bad}`)
  const subnetFile = fl['subnet-file']
  if (!isAbsolute(subnetFile)) throw new UsageError(`flanneld flags: --subnet-file must be an absolute path, got ${JSON.stringify(subnetFile)}`)

  // 2. The reference plugins the conflist names, linked or refused.
  const conflist = !f['no-conflist']
  const conflistText = f['conflist-file'] ? readConflist(f['conflist-file']) : undefined
  const links = conflist ? pluginLinks(root, f['cni-bin-dir'], process.env.CNI_PATH) : []

  // 3. The plan; every source checked before anything is written: a half-done install is worse than none.
  const opts = {
    distDir: dirname(process.argv[1]),
    binDir: f['bin-dir'],
    cniBinDir: f['cni-bin-dir'],
    cniConfDir: f['cni-conf-dir'],
    systemdDir: f['systemd-dir'],
    envFile: f['env-file'],
    flanneldArgs: args,
    subnetFile,
    dataDir: f['data-dir'],
    conflist,
    conflistText,
    plugin: !f['no-plugin'],
    daemon: !f['no-daemon'],
    unit: !f['no-unit'],
    links,
  }
  if (opts.unit && !opts.daemon) throw new UsageError('the unit runs the installed flanneld: --no-daemon needs --no-unit')
  const plan = installPlan(opts)
  const dirs = extraDirs(opts)
  for (const file of plan) if (file.from && !existsSync(file.from)) throw new Error(`missing bundle ${file.from} (run npm run build)`)
  for (const file of plan) {
    const dir = join(root, dirname(file.path))
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a directory`)
  }

  // 4. The host, read only.
  process.stdout.write(showChecks(preflight()))

  if (f['dry-run']) {
    for (const d of missingDirs(root, [...plan.map((p) => dirname(p.path)), ...dirs])) out(`mkdir ${join(root, d)}`)
    for (const file of plan) {
      out(`install -m ${file.mode.toString(8)} ${file.from ?? '-'} ${join(root, file.path)}`)
      if (file.text) process.stdout.write(file.text.replace(/^/gm, '    ') + '\n')
    }
    for (const l of links) out(`ln -s ${l.target} ${join(root, l.path)}`)
    out(`record ${join(root, MANIFEST_PATH)}`)
    return
  }
  const m = writePlan(root, plan, links, dirs, out)
  writeAtomic(join(root, MANIFEST_PATH), Buffer.from(manifestText(mergeManifest(readManifest(root), m))), 0o644)
  out(`recorded ${join(root, MANIFEST_PATH)} (weft-install --uninstall removes what it lists)`)
  if (!f['no-unit']) out(`next: systemd-tmpfiles --create ${TMPFILES_PATH} && systemctl daemon-reload && systemctl enable --now flanneld`)
}

/** A conflist to install as given: it must be JSON with a name and a plugins list, or nothing is written. */
function readConflist(path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new UsageError(`--conflist-file: ${errText(e)}`)
  }
  let c: { name?: unknown; plugins?: unknown }
  try {
    c = JSON.parse(text)
  } catch (e) {
    throw new UsageError(`--conflist-file ${path}: not JSON: ${errText(e)}`)
  }
  if (typeof c?.name !== 'string' || !Array.isArray(c.plugins) || c.plugins.length === 0)
    throw new UsageError(`--conflist-file ${path}: not a conflist (needs "name" and a non-empty "plugins")`)
  return text.endsWith('\n') ? text : text + '\n'
}

const SUMMARY = `
Installs weft on this node: dist/flannel as <cni-bin-dir>/flannel; flanneld, weft-subnet, weft-masq and
weft-routes into <bin-dir> (flanneld finds its parts beside itself); kube-flannel's conflist (flannel +
portmap) as <cni-conf-dir>/10-flannel.conflist, with bridge, host-local and portmap linked into
<cni-bin-dir> from CNI_PATH, /usr/lib/cni or /usr/libexec/cni when missing there; and
<systemd-dir>/flanneld.service (Type=notify, hardened) running <bin-dir>/flanneld with the flags given
after --, which are checked with flanneld's own parser (with the FLANNELD_* variables of --env-file)
before anything is written. Reports read-only preflight checks (ip_forward, br_netfilter, iptables).
Every file is replaced atomically; ${MANIFEST_PATH} lists them for --uninstall.`

runMain('weft-install', main)
