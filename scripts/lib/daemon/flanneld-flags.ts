// flanneld's flags, in one place: flanneld parses its command line with them, and weft-install
// checks the flags it writes into the unit with the same spec and the same value checks, so a
// misspelt flag fails the install instead of the boot.
import { parseFlags, type Flags } from '../core/flags.ts'
import { ETCD_FLAGS } from '../registry/etcd/flags.ts'
import { KUBE_FLAGS } from '../registry/kube/flags.ts'
import { parseIp } from '../net/cidr.ts'

export const FLANNELD_SPEC = {
  ...ETCD_FLAGS,
  ...KUBE_FLAGS,
  iface: { type: 'list', help: 'interface to use (IP or name) for inter-host communication; may be repeated', arg: 'iface' },
  'iface-regex': { type: 'list', help: 'regex of the IPv4 address or name of the interface to use; may be repeated', arg: 'regex' },
  'iface-can-reach': { type: 'string', help: 'detect the interface to use by the route towards this IP', arg: 'ip' },
  'public-ip': { type: 'string', help: 'IP accessible by other nodes for inter-host communication', arg: 'ip' },
  'public-ipv6': { type: 'string', help: "IPv6 accessible by other nodes for inter-host communication (EnableIPv6; default: the interface's global IPv6 address)", arg: 'ip' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'filename where env variables (subnet, MTU, ...) will be written to', arg: 'path' },
  'subnet-lease-renew-margin': { type: 'int', default: 60, help: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439' },
  'ip-masq': { type: 'bool', help: 'setup IP masquerade rule for traffic destined outside of overlay network' },
  'ip-masq-fully-random-disable': { type: 'bool', help: 'disable --random-fully on the MASQUERADE rules' },
  'iptables-resync': { type: 'int', default: 5, help: 'resync period for iptables rules, in seconds' },
  'iptables-forward-rules': { type: 'bool', default: true, help: 'add default accept rules to FORWARD chain in iptables' },
  'healthz-ip': { type: 'string', default: '0.0.0.0', help: 'the IP address for healthz server to listen', arg: 'ip' },
  'healthz-port': { type: 'int', default: 0, help: 'the port for healthz server to listen (0 to disable); serves /healthz, /readyz and /metrics' },
  'part-liveness-timeout': { type: 'int', default: 10, help: "weft's own: kill and restart a part that sent no heartbeat for this many seconds (0: never)", arg: 'seconds' },
  // flanneld's other flags: known, so a unit written for flannel gets a clear answer, not "not defined".
  'ip-blackhole-route': { type: 'bool', help: 'add a blackhole route for the own subnet (weft-routes keeps it, at metric 10000)' },
  vmodule: { type: 'string', help: 'klog flag, accepted and ignored', arg: 'pattern' },
  log_backtrace_at: { type: 'string', help: 'klog flag, accepted and ignored', arg: 'file:line' },
  'dry-run': { type: 'bool', help: "print what every part would do (each part's own --dry-run), change nothing" },
  version: { type: 'bool', help: 'print version and exit' },
  v: {
    type: 'int',
    default: 0,
    help: 'log verbosity: 1 adds every sync and check that changed nothing, 2 every event a part reports, 3 heartbeats too (passed to the parts as WEFT_LOG_V)',
  },
  help: { type: 'bool', help: 'show this help' },
} as const

export type FlanneldFlags = Flags<typeof FLANNELD_SPEC>

/**
 * The checks flanneld makes on values before it starts anything (flannel's own wording for the
 * margin); undefined when all are fine. Interface names and regexes are checked where they are used.
 */
export function flanneldValueError(f: FlanneldFlags): string | undefined {
  const margin = f['subnet-lease-renew-margin']
  if (margin < 1 || margin > 1439) return 'Invalid subnet-lease-renew-margin option, out of acceptable range'
  try {
    if (f['public-ip']) parseIp(f['public-ip'], 4)
    if (f['public-ipv6']) parseIp(f['public-ipv6'], 6)
    if (f['iface-can-reach']) parseIp(f['iface-can-reach'])
  } catch (e) {
    return (e as Error).message
  }
  for (const re of f['iface-regex']) {
    try {
      new RegExp(re)
    } catch {
      return `invalid --iface-regex ${JSON.stringify(re)}`
    }
  }
  if (f['healthz-port'] < 0 || f['healthz-port'] > 65535) return `invalid --healthz-port ${f['healthz-port']}`
  const liveness = f['part-liveness-timeout']
  if (liveness < 0 || liveness > 3600 || (liveness > 0 && liveness < 2)) return `--part-liveness-timeout=${liveness}: must be 0 (off) or from 2 to 3600 seconds`
  return undefined
}

/** Parse flanneld's argv and environment exactly as flanneld does; throws UsageError or Error. */
export function parseFlanneldArgs(argv: readonly string[], env: NodeJS.ProcessEnv): FlanneldFlags {
  return parseFlags(argv, FLANNELD_SPEC, { envPrefix: 'FLANNELD_', env })
}
