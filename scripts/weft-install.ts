// weft-install: puts weft where a node's runtime and init system look for it, from cloud-init or
// by hand: the CNI plugin into /opt/cni/bin/flannel, flanneld and its parts into /opt/bin, the
// kube-flannel conflist into /etc/cni/net.d/10-flannel.conflist and a systemd unit. Each file is
// written atomically (temp file in the same directory, fsync, rename), as flannel's install-conf
// does, so a runtime never reads a half-written plugin or conflist.
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, existsSync, statSync, chmodSync, rmSync } from 'node:fs'
import { dirname, basename, join, isAbsolute } from 'node:path'
import { parseFlags, helpText, UsageError } from './lib/core/flags.ts'
import { runMain, fail } from './lib/core/cli.ts'
import { installPlan, type FileOut } from './lib/install/files.ts'

const SPEC = {
  root: { type: 'string', default: '/', help: 'install under this directory (for images and tests)', arg: 'dir' },
  'bin-dir': { type: 'string', default: '/opt/bin', help: 'where flanneld and its parts go (flannel image path)', arg: 'dir' },
  'cni-bin-dir': { type: 'string', default: '/opt/cni/bin', help: 'where the CNI plugin goes', arg: 'dir' },
  'cni-conf-dir': { type: 'string', default: '/etc/cni/net.d', help: 'where 10-flannel.conflist goes', arg: 'dir' },
  'systemd-dir': { type: 'string', default: '/etc/systemd/system', help: 'where flanneld.service goes', arg: 'dir' },
  'no-conflist': { type: 'bool', help: 'do not write the conflist' },
  'no-unit': { type: 'bool', help: 'do not write the systemd unit' },
  'dry-run': { type: 'bool', help: 'print what would be written, change nothing' },
  help: { type: 'bool', help: 'show this help' },
} as const

function main(): void {
  const f = parseFlags(process.argv.slice(2), SPEC)
  if (f.help) return void process.stdout.write(helpText('weft-install [flags] [-- flanneld flags...]', SUMMARY, SPEC))
  for (const k of ['root', 'bin-dir', 'cni-bin-dir', 'cni-conf-dir', 'systemd-dir'] as const) {
    if (!isAbsolute(f[k])) throw new UsageError(`--${k} must be an absolute path, got ${JSON.stringify(f[k])}`)
  }
  const distDir = dirname(process.argv[1])
  const plan = installPlan({
    root: f.root,
    distDir,
    binDir: f['bin-dir'],
    cniBinDir: f['cni-bin-dir'],
    cniConfDir: f['cni-conf-dir'],
    systemdDir: f['systemd-dir'],
    flanneldArgs: f._,
    conflist: !f['no-conflist'],
    unit: !f['no-unit'],
  })
  // Check every source before writing anything: a half-done install is worse than none.
  for (const file of plan) if (file.from && !existsSync(file.from)) throw new Error(`missing bundle ${file.from} (run npm run build)`)
  for (const file of plan) {
    const dir = dirname(file.path)
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a directory`)
  }
  if (f['dry-run']) {
    for (const file of plan) {
      process.stdout.write(`install -m ${file.mode.toString(8)} ${file.from ?? '-'} ${file.path}\n`)
      if (file.text) process.stdout.write(file.text.replace(/^/gm, '    ') + '\n')
    }
    return
  }
  for (const file of plan) {
    writeAtomic(file)
    process.stdout.write(`installed ${file.path}\n`)
  }
  if (!f['no-unit']) process.stdout.write('next: systemctl daemon-reload && systemctl enable --now flanneld\n')
}

function writeAtomic(file: FileOut): void {
  const dir = dirname(file.path)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  const tmp = join(dir, `.${basename(file.path)}.tmp${process.pid}`)
  const bytes = file.from ? readFileSync(file.from) : Buffer.from(file.text ?? '')
  try {
    const fd = openSync(tmp, 'w', file.mode)
    try {
      writeSync(fd, bytes)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    chmodSync(tmp, file.mode)
    // rename(2) over a running plugin binary is safe (the old inode lives on), unlike cp.
    renameSync(tmp, file.path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

const SUMMARY = `
Installs weft on this node: dist/flannel as <cni-bin-dir>/flannel; flanneld, weft-subnet, weft-masq and
weft-routes into <bin-dir> (flanneld finds its parts beside itself); kube-flannel's conflist (flannel +
portmap) as <cni-conf-dir>/10-flannel.conflist; and <systemd-dir>/flanneld.service running
<bin-dir>/flanneld with the flags given after --. Every file is replaced atomically.`

runMain('weft-install', main)
