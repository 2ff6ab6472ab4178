// weft-subnet: the subnet writer. Gets this node's pod subnet (a lease in etcd, with flannel's
// layout, or a static flag), writes subnet.env for the CNI plugin, prints one JSON line on stdout
// after the write (the supervisor waits for it), then keeps the lease renewed until stopped.
import { parseFlags, helpText, UsageError, type FlagSpec } from './lib/core/flags.ts'
import { log, die, errText } from './lib/core/log.ts'
import { exitWithSupervisor, holdLock } from './lib/core/part-guard.ts'
import { keepFile } from './lib/subnet/keep-file.ts'
import { parseCidr, parseIp, containsCidr, type Cidr, type Ip } from './lib/net/cidr.ts'
import { ETCD_FLAGS, etcdFromFlags } from './lib/registry/etcd/flags.ts'
import { EtcdClient, UnreachableError } from './lib/registry/etcd/client.ts'
import type { NetworkConfig } from './lib/formats/net-conf.ts'
import { waitForConfig } from './lib/registry/etcd/config-wait.ts'
import { acquireLease, LEASE_TTL } from './lib/registry/etcd/lease-acquire.ts'
import { keepLease, CHECK_MS } from './lib/subnet/renew.ts'
import { DryRunRegistry } from './lib/subnet/dry-run.ts'
import { writeFileAtomic, previousSubnet } from './lib/formats/subnet-file.ts'
import { backendMtu, externalInterface } from './lib/subnet/mtu.ts'
import { formatSubnetEnv } from './lib/formats/subnet-env.ts'
import { vxlanSpec, ensureDevice, configureDevice, localAddress, type VxlanSpec } from './lib/subnet/vxlan-device.ts'
import { keepDevices } from './lib/subnet/vxlan-keep.ts'

const SPEC = {
  ...ETCD_FLAGS,
  'public-ip': { type: 'string', help: "IP accessible by other nodes for inter-host communication (required with etcd)", arg: 'ip' },
  'public-ipv6': { type: 'string', help: 'IPv6 address accessible by other nodes (required with EnableIPv6)', arg: 'ip' },
  iface: { type: 'string', help: 'external interface (name or address); its MTU sets FLANNEL_MTU', arg: 'name' },
  mtu: { type: 'int', default: 0, help: 'external interface MTU to use instead of reading --iface (0 = read it)', arg: 'bytes' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'filename where env variables (subnet, MTU, ... ) will be written to', arg: 'path' },
  'ip-masq': { type: 'bool', default: false, help: 'written as FLANNEL_IPMASQ (the masquerade installer sets up the rules)' },
  'subnet-lease-renew-margin': { type: 'int', default: 60, help: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439', arg: 'minutes' },
  'subnet-lease-ttl': { type: 'int', default: LEASE_TTL, help: 'etcd lease TTL in seconds (flannel: fixed 86400; change only to test renewal)', arg: 'seconds' },
  'lease-check-interval': { type: 'int', default: CHECK_MS / 1000, help: "weft's own: read our lease key every this many seconds, to notice its deletion even when the watch connection is silently dead (0: never)", arg: 'seconds' },
  'backend-data': { type: 'string', help: 'BackendData JSON object to publish in the lease (host-gw needs none)', arg: 'json' },
  'device-check-interval': { type: 'int', default: 5, help: 'with --vxlan-device: seconds between checks that the vxlan device(s) still exist; a deleted one is made again', arg: 'seconds' },
  'vxlan-device': { type: 'bool', default: false, help: 'with a vxlan config: create or reuse flannel.<VNI> first, publish its VNI and MAC as BackendData, give it <lease IP>/32 after the lease (flanneld passes this)' },
  network: { type: 'string', help: 'static mode: the cluster network (no registry), with --subnet', arg: 'cidr' },
  subnet: { type: 'string', help: "static mode: this node's subnet, inside --network", arg: 'cidr' },
  once: { type: 'bool', default: false, help: 'acquire the lease and write subnet.env, then exit without renewing' },
  'dry-run': { type: 'bool', default: false, help: 'print the etcd operations and the subnet.env it would write; change nothing' },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies FlagSpec

async function main(): Promise<void> {
  const f = parseArgs()
  const stop = new AbortController()
  // flannel leaves the lease and subnet.env in place on SIGTERM, so a restart gets the same subnet.
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => (stop.abort(), log(`${s}: exiting, leaving the lease and ${f['subnet-file']} in place`), process.exit(0)))

  if (!f['dry-run']) {
    holdLock('weft-subnet', f['subnet-file'], true) // one copy per node (issue 13 item 6)
    exitWithSupervisor(log)
  }
  if (f.network || f.subnet) return await staticMode(f)

  const publicIp = mustIp('--public-ip', f['public-ip'], true)!
  const ifMtu = f.mtu || (await externalInterface(f.iface, publicIp)).mtu
  const etcd = etcdFromFlags(f)
  const prefix = f['etcd-prefix']
  const cfg = await waitForConfig(etcd, prefix, stop.signal)
  if (!cfg) process.exit(0) // SIGTERM while waiting
  const publicIpv6 = cfg.enableIPv6 ? ipv6Public(f['public-ipv6'], cfg) : undefined
  const mtu = backendMtu(cfg.backend, ifMtu)
  // vxlan: the device comes first, as in flannel's RegisterNetwork: its MAC is the lease's VtepMAC.
  const vxlan = cfg.backend.type === 'vxlan' && f['vxlan-device'] ? await vxlanDevice(f, publicIp, cfg) : undefined
  // Dual stack: flannel-v6.<VNI> beside it, sending from our PublicIPv6; its MAC goes in BackendV6Data.
  const vxlan6 = vxlan && publicIpv6 ? await vxlanDevice(f, publicIpv6, cfg) : undefined

  const acquire = (previous: Cidr | undefined, previousV6: Cidr | undefined) =>
    acquireLease(f['dry-run'] ? new DryRunRegistry(etcd) : etcd, {
      prefix,
      cfg,
      attrs: {
        publicIp,
        publicIpv6,
        backendType: cfg.backend.type,
        backendData: vxlan ? { VNI: vxlan.spec.vni, VtepMAC: vxlan.mac } : backendData(f['backend-data']),
        backendV6Data: vxlan6 ? { VNI: vxlan6.spec.vni, VtepMAC: vxlan6.mac } : undefined,
      },
      previous,
      previousV6,
      ttl: f['subnet-lease-ttl'],
      log,
    })
  const lease = await untilReachable('acquiring a lease', () => acquire(previousSubnet(f['subnet-file']), cfg.enableIPv6 ? previousSubnet(f['subnet-file'], 6) : undefined))
  if (vxlan) await configureDevice(vxlan.spec.name, lease.subnet, cfg.network!, f['dry-run'])
  if (vxlan6 && lease.ipv6Subnet) await configureDevice(vxlan6.spec.name, lease.ipv6Subnet, cfg.ipv6Network!, f['dry-run'])
  const v6 = lease.ipv6Subnet ? { ipv6Network: cfg.ipv6Network, ipv6Subnet: lease.ipv6Subnet } : {}
  const env = formatSubnetEnv({ network: cfg.network, subnet: lease.subnet, ...v6, mtu, ipmasq: f['ip-masq'] })
  if (f['dry-run']) {
    process.stdout.write(`cat > ${f['subnet-file']} <<'EOF'\n${env}EOF\n`)
    return process.exit(0)
  }
  writeSubnetEnv(f['subnet-file'], env, { network: cfg.network!, subnet: lease.subnet, backend: cfg.backend.type, mtu, publicIp, ...v6, publicIpv6 })
  if (f.once) return process.exit(0)
  keepFile(f['subnet-file'], env, { signal: stop.signal, log })
  if (vxlan) {
    const kept = [{ ...vxlan, lease: lease.subnet, network: cfg.network! }]
    if (vxlan6 && lease.ipv6Subnet) kept.push({ ...vxlan6, lease: lease.ipv6Subnet, network: cfg.ipv6Network! })
    keepDevices(kept, { intervalMs: f['device-check-interval'] * 1000, signal: stop.signal, log })
  }

  const keep = { ttl: f['subnet-lease-ttl'], marginMs: f['subnet-lease-renew-margin'] * 60_000, signal: stop.signal, log, checkMs: f['lease-check-interval'] * 1000 }
  let held = lease
  for (;;) {
    const why = await keepLease(etcd, held, keep)
    if (why === 'stopped') break
    // flannel exits 0 on any loss ("revoked"), and under Restart=on-failure nothing comes back
    // while pods keep the subnet. A loss with etcd's data (its revision went back, or the config
    // is gone too) is not an operator taking our lease: re-register (issue 13 item 9).
    const wiped = why === 'reset' || !(await untilReachable('checking the network config', () => etcd.get(`${prefix.replace(/\/+$/, '')}/config`)))
    if (!wiped) {
      log('Lease has been revoked. Shutting down daemon.')
      break
    }
    log(`etcd lost our lease ${held.subnet.text} with the rest of its data (${why === 'reset' ? 'its revision went back: wiped or restored' : 'the network config is gone too'}); keeping ${f['subnet-file']}, registering the same subnet again once the network config is back`)
    const again = await waitForConfig(etcd, prefix, stop.signal)
    if (!again) break
    if (again.network?.text !== cfg.network?.text || again.backend.type !== cfg.backend.type) die(`the network config came back different (${again.network?.text} ${again.backend.type}); exiting so that it is applied from the start`)
    held = await untilReachable('registering our subnet again', () => acquire(held.subnet, held.ipv6Subnet))
    if (held.subnet.text !== lease.subnet.text) die(`our subnet ${lease.subnet.text} was taken by another node while etcd was empty (we got ${held.subnet.text}); exiting so that subnet.env is rewritten from the start`)
    log(`registered ${held.subnet.text} again (${held.how})`)
  }
  process.exit(0)
}

type F = ReturnType<typeof parseFlags<typeof SPEC>>

function parseArgs(): F {
  let f: F
  try {
    f = parseFlags(process.argv.slice(2), SPEC, { envPrefix: 'FLANNELD_', positional: false })
  } catch (e) {
    if (e instanceof UsageError) die(`${e.message} (see --help)`, 2)
    throw e
  }
  if (f.help) {
    process.stdout.write(helpText('weft-subnet [flags]', 'Acquire this node\'s pod subnet (an etcd lease in flannel\'s layout, or static --network/--subnet), write subnet.env, keep the lease renewed.', SPEC, 'FLANNELD_'))
    process.exit(0)
  }
  if (f._.length) die(`unexpected arguments: ${f._.join(' ')} (see --help)`, 2)
  const m = f['subnet-lease-renew-margin']
  if (m < 1 || m > 1439) die(`--subnet-lease-renew-margin=${m}: must be from 1 to 1439 minutes`)
  const ttl = f['subnet-lease-ttl']
  if (ttl <= m * 60 || ttl > 10 * LEASE_TTL) die(`--subnet-lease-ttl=${ttl}: must be longer than the renew margin (${m} min) and at most ${10 * LEASE_TTL}`)
  const check = f['lease-check-interval']
  if (check < 0 || check > 86400) die(`--lease-check-interval=${check}: must be from 0 (off) to 86400 seconds`)
  const dev = f['device-check-interval']
  if (dev < 1 || dev > 3600) die(`--device-check-interval=${dev}: must be from 1 to 3600 seconds`)
  if (f.mtu && (f.mtu < 68 || f.mtu > 65535)) die(`--mtu=${f.mtu}: must be from 68 to 65535`)
  if (!f['subnet-file']) die('--subnet-file must not be empty')
  return f
}

/** Static mode: one host, no registry. FLANNEL_MTU is the interface MTU (no encapsulation). */
async function staticMode(f: F): Promise<void> {
  if (!f.network || !f.subnet) die('static mode needs both --network and --subnet')
  const network = mustCidr('--network', f.network)
  const subnet = mustCidr('--subnet', f.subnet)
  if (subnet.family !== network.family) die(`--subnet ${subnet.text} and --network ${network.text} are different IP families`)
  if (!containsCidr(network, subnet) || subnet.prefix <= network.prefix) die(`--subnet ${subnet.text} is not a subnet inside --network ${network.text}`)
  if (subnet.prefix > (subnet.family === 4 ? 30 : 126)) die(`--subnet ${subnet.text} is too small for a bridge and a pod`)
  const publicIp = mustIp('--public-ip', f['public-ip'], false)
  const mtu = f.mtu || (await externalInterface(f.iface, publicIp)).mtu
  const env = formatSubnetEnv(network.family === 4 ? { network, subnet, mtu, ipmasq: f['ip-masq'] } : { ipv6Network: network, ipv6Subnet: subnet, mtu, ipmasq: f['ip-masq'] })
  if (f['dry-run']) {
    process.stdout.write(`cat > ${f['subnet-file']} <<'EOF'\n${env}EOF\n`)
    return process.exit(0)
  }
  writeSubnetEnv(f['subnet-file'], env, { network, subnet, backend: 'static', mtu, publicIp })
  process.exit(0)
}

/**
 * vxlan: ensure flannel.<VNI> (publicIp IPv4) or flannel-v6.<VNI> (IPv6) on the external interface;
 * its MAC is published in the lease (BackendData, BackendV6Data).
 */
async function vxlanDevice(f: F, publicIp: Ip, cfg: NetworkConfig): Promise<{ spec: VxlanSpec; mac: string }> {
  if (f['backend-data']) die('--backend-data cannot be used with the vxlan backend (BackendData is the device\'s VNI and MAC)')
  const ext = await externalInterface(f.iface, publicIp.family === 4 ? publicIp : mustIp('--public-ip', f['public-ip'], true)!)
  let spec: VxlanSpec
  try {
    spec = vxlanSpec(cfg.backend.raw, ext.ifname, await localAddress(ext.ifname, publicIp.text, publicIp.family), f.mtu || ext.mtu, publicIp.family)
  } catch (e) {
    die(errText(e))
  }
  const mac = await ensureDevice(spec, f['dry-run'], log)
  log(`vxlan device ${spec.name}: VNI ${spec.vni}, port ${spec.port}, MTU ${spec.mtu}, MAC ${mac}, on ${spec.dev} (${spec.local})`)
  return { spec, mac }
}

/** Retry fn every second while etcd is unreachable; any other error is fatal (as in flannel). */
async function untilReachable<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await fn()
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e
      if (n % 30 === 0) log(`waiting for etcd while ${what}: ${errText(e)}; retrying every second`)
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}

function writeSubnetEnv(path: string, env: string, o: { network: Cidr; subnet: Cidr; backend: string; mtu: number; publicIp?: Ip; ipv6Network?: Cidr; ipv6Subnet?: Cidr; publicIpv6?: Ip }): void {
  try {
    writeFileAtomic(path, env)
  } catch (e) {
    die(`failed to write ${path}: ${errText(e)}`)
  }
  log(`Wrote subnet file to ${path}`)
  const line: Record<string, unknown> = { event: 'subnet-written', file: path, network: o.network.text, subnet: o.subnet.text, backend: o.backend, mtu: o.mtu, publicIp: o.publicIp?.text ?? null }
  if (o.ipv6Subnet) Object.assign(line, { ipv6Network: o.ipv6Network?.text, ipv6Subnet: o.ipv6Subnet.text, publicIpv6: o.publicIpv6?.text })
  process.stdout.write(JSON.stringify(line) + '\n')
}

/**
 * EnableIPv6: dual stack on host-gw or vxlan, and --public-ipv6 must be a plain unicast IPv6
 * address (peers route our IPv6 subnet, or send their IPv6 vxlan packets, to it). IPv6-only is
 * refused clearly.
 */
function ipv6Public(s: string, cfg: NetworkConfig): Ip {
  if (!cfg.enableIPv4) die('EnableIPv4 false (IPv6-only) is not supported by weft yet: use dual stack (EnableIPv4 and EnableIPv6)')
  if (cfg.backend.type !== 'host-gw' && cfg.backend.type !== 'vxlan') die(`EnableIPv6 is supported with the host-gw and vxlan backends only (not ${cfg.backend.type}) by weft yet`)
  if (!s) die('--public-ipv6 is required with EnableIPv6 (the IPv6 address other nodes reach this one at; flanneld passes its interface\'s global IPv6 address when there is one)')
  let ip: Ip
  try {
    ip = parseIp(s, 6)
  } catch {
    die(`--public-ipv6 ${JSON.stringify(s)}: not an IPv6 address`)
  }
  const v = ip.value
  if (v === 0n || v === 1n || v >> 120n === 0xffn || v >> 118n === 0x3fan || v >> 32n === 0xffffn) die(`--public-ipv6 ${ip.text}: not a global unicast IPv6 address`)
  return ip
}

function backendData(s: string): Record<string, unknown> | null {
  if (!s) return null
  let v: unknown
  try {
    v = JSON.parse(s)
  } catch {
    die(`--backend-data: not JSON: ${s}`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) die('--backend-data: must be a JSON object')
  return v as Record<string, unknown>
}

function mustIp(name: string, s: string, required: boolean): Ip | undefined {
  if (!s) return required ? die(`${name} is required with etcd (the address other nodes reach this one at)`) : undefined
  try {
    return parseIp(s, 4)
  } catch {
    die(`${name} ${JSON.stringify(s)}: not an IPv4 address`)
  }
}

function mustCidr(name: string, s: string): Cidr {
  try {
    return parseCidr(s)
  } catch {
    die(`${name} ${JSON.stringify(s)}: not a CIDR (like 10.244.0.0/16)`)
  }
}

main().catch((e) => die(errText(e)))
