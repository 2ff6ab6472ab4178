// weft-masq's inputs: flags (FLANNELD_* fallbacks), or subnet.env, validated once into typed
// values. Every message names the flag or file it is about; nothing here touches the kernel.
import { readFileSync } from 'node:fs'
import { containsCidr, parseCidr, type Cidr, type Family } from '../net/cidr.ts'
import { parseFlags, UsageError, type FlagSpec } from '../core/flags.ts'
import { parseSubnetEnv } from '../formats/subnet-env.ts'
import type { Mode } from './iptables-flavour.ts'

export const spec = {
  network: { type: 'string', arg: 'CIDR', help: "cluster network (the network config's Network), e.g. 10.244.0.0/16" },
  subnet: { type: 'string', arg: 'CIDR', help: "this node's pod subnet (the lease), e.g. 10.244.1.0/24 or 10.244.1.1/24" },
  'ipv6-network': { type: 'string', arg: 'CIDR', help: 'IPv6 cluster network (optional)' },
  'ipv6-subnet': { type: 'string', arg: 'CIDR', help: "this node's IPv6 pod subnet (optional)" },
  'subnet-file': { type: 'string', arg: 'PATH', default: '/run/flannel/subnet.env', help: 'read network and subnet from this subnet.env when --network/--subnet are not given' },
  'ip-masq': { type: 'bool', help: 'install the FLANNEL-POSTRTG masquerade rules (default: FLANNEL_IPMASQ of subnet.env, else true)' },
  'iptables-forward-rules': { type: 'bool', default: true, help: 'install the FLANNEL-FWD accept rules' },
  'ip-masq-fully-random-disable': { type: 'bool', help: 'never use --random-fully / fully-random' },
  'iptables-resync': { type: 'int', arg: 'SECONDS', default: 5, help: 'check the rules this often and re-apply them when any is missing or changed' },
  nftables: { type: 'bool', help: "use nftables tables flannel-ipv4/flannel-ipv6 instead of iptables (the network config's EnableNFTables)" },
  'iptables-mode': { type: 'string', arg: 'auto|nft|legacy', default: 'auto', help: 'which iptables flavour to drive; auto detects it as kube-proxy does' },
  'prev-network': { type: 'string', arg: 'CIDR', help: 'the network of the previous run (recycling: its rules are removed first)' },
  'prev-subnet': { type: 'string', arg: 'CIDR', help: 'the subnet of the previous run' },
  'prev-ipv6-network': { type: 'string', arg: 'CIDR', help: 'the IPv6 network of the previous run' },
  'prev-ipv6-subnet': { type: 'string', arg: 'CIDR', help: 'the IPv6 subnet of the previous run' },
  once: { type: 'bool', help: 'apply once and exit (default: stay and resync)' },
  'dry-run': { type: 'bool', help: 'print the exact commands and payloads, change nothing' },
  cleanup: { type: 'bool', help: 'remove what this installer adds (jumps, chains, nft tables), nothing else, and exit' },
  help: { type: 'bool', help: 'show this help' },
} satisfies FlagSpec

export interface FamilyConf {
  family: Family
  cluster: Cidr
  pod: Cidr
}

export interface MasqConfig {
  families: FamilyConf[]
  prev: FamilyConf[]
  source: string
  ipMasq: boolean
  forward: boolean
  fullyRandomDisabled: boolean
  resyncSeconds: number
  nftables: boolean
  iptablesMode: Mode
  once: boolean
  dryRun: boolean
  /** where the run directory (and this part's lock) is */
  subnetFile: string
  cleanup: boolean
  help: boolean
}

export class InputError extends Error {}

function cidr(value: string, what: string, family: Family): Cidr {
  let c: Cidr
  try {
    c = parseCidr(value)
  } catch {
    throw new InputError(`${what}: invalid CIDR address: ${JSON.stringify(value)}`)
  }
  if (c.family !== family) throw new InputError(`${what}: ${value} is not an IPv${family} CIDR`)
  return c
}

function pair(net: string, sub: string, names: [string, string], family: Family, origin: string): FamilyConf | undefined {
  if (!net && !sub) return undefined
  if (!net || !sub) throw new InputError(`${origin}${names[net ? 1 : 0]} is needed with ${origin}${names[net ? 0 : 1]}`)
  const cluster = cidr(net, origin + names[0], family)
  const pod = cidr(sub, origin + names[1], family)
  if (!containsCidr(cluster, pod)) throw new InputError(`subnet ${pod.text} (${origin}${names[1]}) is not inside network ${cluster.text} (${origin}${names[0]})`)
  return { family, cluster, pod }
}

/** Flags (+ env) -> config. `readFile` is injectable for tests. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env, readFile = (p: string) => readFileSync(p, 'utf8')): MasqConfig {
  const f = parseFlags(argv, spec, { envPrefix: 'FLANNELD_', env, positional: false })
  if (f._.length) throw new UsageError(`unexpected argument: ${f._[0]}`)
  const mode = f['iptables-mode']
  if (!['auto', 'nft', 'legacy'].includes(mode)) throw new UsageError(`--iptables-mode must be auto, nft or legacy, not ${JSON.stringify(mode)}`)
  if (f['iptables-resync'] < 1) throw new UsageError(`--iptables-resync must be at least 1 second, not ${f['iptables-resync']}`)
  const cfg: MasqConfig = {
    families: [],
    prev: [],
    source: 'flags',
    ipMasq: true,
    forward: f['iptables-forward-rules'],
    fullyRandomDisabled: f['ip-masq-fully-random-disable'],
    resyncSeconds: f['iptables-resync'],
    nftables: f.nftables,
    iptablesMode: mode as Mode,
    once: f.once,
    dryRun: f['dry-run'],
    subnetFile: f['subnet-file'],
    cleanup: f.cleanup,
    help: f.help,
  }
  if (cfg.help || cfg.cleanup) return cfg

  const v4 = pair(f.network, f.subnet, ['--network', '--subnet'], 4, '')
  const v6 = pair(f['ipv6-network'], f['ipv6-subnet'], ['--ipv6-network', '--ipv6-subnet'], 6, '')
  let fileMasq: boolean | undefined
  if (v4 || v6) cfg.families = [v4, v6].filter((x): x is FamilyConf => !!x)
  else {
    const path = f['subnet-file']
    let text: string
    try {
      text = readFile(path)
    } catch (e) {
      throw new InputError(`no --network/--subnet given and cannot read ${path}: ${(e as Error).message}`)
    }
    let se
    try {
      se = parseSubnetEnv(text, path)
    } catch (e) {
      throw new InputError((e as Error).message)
    }
    for (const [nets, sub, fam, keys] of [
      [se.networks, se.subnet, 4, ['FLANNEL_NETWORK', 'FLANNEL_SUBNET']],
      [se.ipv6Networks, se.ipv6Subnet, 6, ['FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET']],
    ] as const) {
      if (nets.length > 1) throw new InputError(`${path}: ${keys[0]} lists ${nets.length} networks; only one per family is supported`)
      const p = pair(nets[0]?.text ?? '', sub?.text ?? '', [keys[0], keys[1]], fam, `${path}: `)
      if (p) cfg.families.push(p)
    }
    cfg.source = path
    fileMasq = se.ipmasq
  }
  if (!cfg.families.length) throw new InputError('no network: give --network and --subnet (or a subnet.env with FLANNEL_NETWORK and FLANNEL_SUBNET)')
  // flanneld passes its --ip-masq explicitly; alone, the subnet.env's FLANNEL_IPMASQ (or true) decides.
  const explicit = argv.some((a) => /^--?ip-masq(=|$)/.test(a)) || !!env.FLANNELD_IP_MASQ
  cfg.ipMasq = explicit ? f['ip-masq'] : (fileMasq ?? true)

  const p4 = pair(f['prev-network'], f['prev-subnet'], ['--prev-network', '--prev-subnet'], 4, '')
  const p6 = pair(f['prev-ipv6-network'], f['prev-ipv6-subnet'], ['--prev-ipv6-network', '--prev-ipv6-subnet'], 6, '')
  cfg.prev = [p4, p6].filter((x): x is FamilyConf => !!x)
  return cfg
}
