// flanneld.service as weft-install writes it. Type=notify: flanneld sends READY=1 (through
// systemd-notify, see lib/daemon/sd-notify.ts) once subnet.env is written, so units ordered after
// it (kubelet, a runtime) start when a pod can get an address. Hardened to what the daemon needs:
// CAP_NET_ADMIN (links, routes, neighbours, rules) and CAP_NET_RAW (iptables), the file system
// read-only except its subnet file's directory and the xtables lock. Not set, on purpose:
// MemoryDenyWriteExecute (V8's JIT needs writable+executable pages), PrivateNetwork and
// PrivateUsers (it configures the host's network), ProcSubset=pid (iptables and ip read /proc/net).
import { dirname } from 'node:path'

export interface UnitOptions {
  binDir: string
  args: string[]
  /** flanneld's --subnet-file: its directory is the one place the daemon writes */
  subnetFile: string
  /** FLANNELD_* variables, read if present */
  envFile: string
}

/**
 * One ExecStart word as systemd reads it back: plain words as they are, anything else in double
 * quotes with C escapes for \\ and ", %% for % (specifiers) and $$ for $ (variable expansion),
 * so an --iface-regex like ^(eth|ens)[0-9]+$ reaches flanneld unchanged. Control characters
 * have no safe spelling on one unit line: refused.
 */
export function systemdQuote(arg: string): string {
  if (/[\x00-\x1f\x7f]/.test(arg)) throw new Error(`flanneld argument ${JSON.stringify(arg)} has a control character, which a unit line cannot hold`)
  if (/^[A-Za-z0-9_=,:/.@+-]+$/.test(arg)) return arg
  return (
    '"' +
    arg
      .replace(/[\\"]/g, (c) => '\\' + c)
      .replace(/%/g, '%%')
      .replace(/\$/g, '$$$$') +
    '"'
  )
}

// Paths go into directives that take no quotes: a plain character set.
const SAFE_PATH = /^\/[A-Za-z0-9_,:/.@+-]*$/

export const XTABLES_LOCK = '/run/xtables.lock'

export function unitText(o: UnitOptions): string {
  for (const p of [o.binDir, o.subnetFile, o.envFile]) {
    if (!SAFE_PATH.test(p)) throw new Error(`path ${JSON.stringify(p)} has characters a systemd unit would interpret; allowed: letters, digits and _,:/.@+-`)
  }
  const dir = dirname(o.subnetFile)
  // Under /run, systemd makes the directory (it is a tmpfs) and keeps it across restarts: the
  // CNI plugin reads subnet.env while flanneld restarts. Elsewhere weft-install makes it.
  const writable = dir.startsWith('/run/')
    ? [`RuntimeDirectory=${dir.slice('/run/'.length)}`, 'RuntimeDirectoryMode=0755', 'RuntimeDirectoryPreserve=yes']
    : [`ReadWritePaths=${dir}`]
  return [
    '[Unit]',
    'Description=weft flanneld (flannel-compatible pod network daemon)',
    'Documentation=https://github.com/flannel-io/flannel',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=notify',
    // the READY=1 comes from systemd-notify, a child of flanneld
    'NotifyAccess=all',
    `EnvironmentFile=-${o.envFile}`,
    `ExecStart=${[`${o.binDir}/flanneld`, ...o.args.map(systemdQuote)].join(' ')}`,
    'Restart=always',
    'RestartSec=5',
    // SIGTERM ends flanneld and its parts; routes, rules and subnet.env stay, as flannel's do
    'KillMode=control-group',
    ...writable,
    // iptables-legacy takes this lock (made at boot by weft's tmpfiles.d entry); nft mode ignores it
    `ReadWritePaths=-${XTABLES_LOCK}`,
    'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'DevicePolicy=closed',
    'ProtectKernelTunables=yes',
    // ...but for the vxlan device's accept_ra=0 (EnableIPv6), which weft-subnet writes there
    'ReadWritePaths=-/proc/sys/net/ipv6/conf',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'KeyringMode=private',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    // a call outside the set fails with EPERM instead of killing the daemon
    'SystemCallErrorNumber=EPERM',
    'UMask=0022',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n')
}

/** systemd-tmpfiles entry: the xtables lock exists from boot, so a read-only /run is no problem. */
export const TMPFILES_TEXT = `# weft: iptables-legacy's lock, writable by flanneld.service (ProtectSystem=strict)\nf ${XTABLES_LOCK} 0600 root root -\n`
