// What weft-install writes, as data: the files (path, bytes, mode), so --dry-run can print them
// and the tests can compare them exactly. The conflist is kube-flannel's cni-conf.json.
import { join } from 'node:path'

export interface FileOut {
  path: string
  mode: number
  /** contents, or the source file to copy */
  text?: string
  from?: string
}

export interface InstallOptions {
  root: string
  distDir: string
  binDir: string
  cniBinDir: string
  cniConfDir: string
  systemdDir: string
  /** flanneld's arguments in the unit */
  flanneldArgs: string[]
  conflist: boolean
  unit: boolean
}

export const DAEMON_BUNDLES = ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes']

export const CONFLIST =
  JSON.stringify(
    {
      name: 'cbr0',
      cniVersion: '0.3.1',
      plugins: [
        { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  ) + '\n'

// systemd splits ExecStart on whitespace and interprets quotes, $ and %; the arguments are
// flags and values we check against a plain character set instead of escaping them.
const SAFE_ARG = /^[A-Za-z0-9_=,:/.@+-]+$/

export function unitText(binDir: string, args: string[]): string {
  for (const a of args) if (!SAFE_ARG.test(a)) throw new Error(`flanneld argument ${JSON.stringify(a)} has characters a systemd unit would interpret; allowed: letters, digits and _=,:/.@+-`)
  return [
    '[Unit]',
    'Description=weft flanneld (flannel-compatible pod network daemon)',
    'Documentation=https://github.com/flannel-io/flannel',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${join(binDir, 'flanneld')}${args.length ? ' ' + args.join(' ') : ''}`,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}

export function installPlan(o: InstallOptions): FileOut[] {
  const at = (p: string) => join(o.root, p)
  const files: FileOut[] = [{ path: at(join(o.cniBinDir, 'flannel')), mode: 0o755, from: join(o.distDir, 'flannel') }]
  for (const b of DAEMON_BUNDLES) files.push({ path: at(join(o.binDir, b)), mode: 0o755, from: join(o.distDir, b) })
  if (o.conflist) files.push({ path: at(join(o.cniConfDir, '10-flannel.conflist')), mode: 0o644, text: CONFLIST })
  if (o.unit) files.push({ path: at(join(o.systemdDir, 'flanneld.service')), mode: 0o644, text: unitText(o.binDir, o.flanneldArgs) })
  return files
}
