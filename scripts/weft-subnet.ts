// weft-subnet: the subnet writer. Gets this node's pod subnet (a lease in etcd, with flannel's
// layout, or a static flag), writes subnet.env for the CNI plugin, prints one JSON line on stdout
// after the write (the supervisor waits for it), then keeps the lease renewed until stopped.
import { parseFlags, helpText, UsageError } from './lib/core/flags.ts'
import { WRITER_SPEC } from './lib/subnet/flags.ts'
import { runMain, fail, FatalError } from './lib/core/cli.ts'
import { log, errText } from './lib/core/log.ts'
import { exitWithSupervisor, holdLock } from './lib/core/part-guard.ts'
import { keepFile } from './lib/subnet/keep-file.ts'
import { parseCidr, parseIp, containsCidr, type Cidr, type Ip } from './lib/net/cidr.ts'
import { etcdFromFlags } from './lib/registry/etcd/flags.ts'
import type { NetworkConfig } from './lib/formats/net-conf.ts'
import type { VxlanBackend } from './lib/formats/backend.ts'
import { LEASE_TTL } from './lib/registry/etcd/lease-acquire.ts'
import { EtcdRegistry } from './lib/registry/etcd/registry.ts'
import { PermanentError, type Registry } from './lib/registry/registry.ts'
import { kubeRegistryFromFlags } from './lib/registry/kube/flags.ts'
import { KubeRegistry } from './lib/registry/kube/registry.ts'
import { writeFileAtomic } from './lib/formats/subnet-file.ts'
import { backendMtu } from './lib/subnet/mtu.ts'
import { selectLink } from './lib/net/iface.ts'
import { formatSubnetEnv, previousSubnet } from './lib/formats/subnet-env.ts'
import { vxlanSpec, ensureDevice, configureDevice, localAddress, type VxlanSpec } from './lib/subnet/vxlan-device.ts'
import { keepDevices } from './lib/subnet/vxlan-keep.ts'
import { emit, startHeartbeat } from './lib/daemon/events.ts'
import { readConfigOnce } from './lib/registry/etcd/config-wait.ts'
import { recheckConfig } from './lib/subnet/config-recheck.ts'

const SPEC = WRITER_SPEC

async function main(): Promise<void> {
  const f = parseArgs()
  startHeartbeat()
  const stop = new AbortController()
  // flannel leaves the lease and subnet.env in place on SIGTERM, so a restart gets the same subnet.
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => (stop.abort(), log(`${s}: exiting, leaving the lease and ${f['subnet-file']} in place`), process.exit(0)))

  if (!f['dry-run']) {
    holdLock('weft-subnet', f['subnet-file'], true) // one copy per node (issue 13 item 6)
    exitWithSupervisor(log)
  }
  if (f.network || f.subnet) return await staticMode(f)

  const publicIp = mustIp('--public-ip', f['public-ip'], true)!
  const ifMtu = f.mtu || (await selectLink(f.iface, publicIp)).mtu
  const registry = await openRegistry(f)
  const cfg = await registry.config(stop.signal)
  if (!cfg) process.exit(0) // SIGTERM while waiting
  const publicIpv6 = cfg.enableIPv6 ? ipv6Public(f['public-ipv6'], cfg) : undefined
  const mtu = backendMtu(cfg.backend, ifMtu)
  // Kubernetes: our Node's backend-data annotation holds the MAC a restart must keep (flannel#1795).
  const macs = cfg.backend.type === 'vxlan' && registry instanceof KubeRegistry ? await registry.vtepMacs(stop.signal) : {}
  // vxlan: the device comes first, as in flannel's RegisterNetwork: its MAC is the lease's VtepMAC.
  const vxlan = cfg.backend.type === 'vxlan' && f['vxlan-device'] ? await vxlanDevice(f, publicIp, cfg, macs.v4) : undefined
  // Dual stack: flannel-v6.<VNI> beside it, sending from our PublicIPv6; its MAC goes in BackendV6Data.
  const vxlan6 = vxlan && publicIpv6 ? await vxlanDevice(f, publicIpv6, cfg, macs.v6) : undefined

  let lease
  try {
    lease = await registry.acquire(
      cfg,
      {
        publicIp,
        publicIpv6,
        backendType: cfg.backend.type,
        backendData: vxlan ? { VNI: vxlan.spec.vni, VtepMAC: vxlan.mac } : backendData(f['backend-data']),
        backendV6Data: vxlan6 ? { VNI: vxlan6.spec.vni, VtepMAC: vxlan6.mac } : undefined,
      },
      stop.signal,
    )
  } catch (e) {
    if (stop.signal.aborted) process.exit(0)
    throw e
  }
  if (vxlan) await configureDevice(vxlan.spec.name, lease.subnet, cfg.network!, f['dry-run'])
  if (vxlan6 && lease.ipv6Subnet) await configureDevice(vxlan6.spec.name, lease.ipv6Subnet, cfg.ipv6Network!, f['dry-run'])
  const v6 = lease.ipv6Subnet ? { ipv6Network: cfg.ipv6Network, ipv6Subnet: lease.ipv6Subnet } : {}
  const env = formatSubnetEnv({ network: cfg.network, subnet: lease.subnet, ...v6, mtu, ipmasq: f['ip-masq'] })
  if (f['dry-run']) {
    process.stdout.write(`cat > ${f['subnet-file']} <<'EOF'\n${env}EOF\n`)
    emit({
      event: 'subnet',
      planned: true,
      file: f['subnet-file'],
      network: cfg.network?.text,
      subnet: lease.subnet.text,
      ipv6Network: lease.ipv6Subnet ? cfg.ipv6Network?.text : undefined,
      ipv6Subnet: lease.ipv6Subnet?.text,
      mtu,
    })
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

  // A config that turns bad while running: said once per change, not ready, nothing torn down.
  if (registry instanceof EtcdRegistry && f['config-check-interval'] > 0)
    recheckConfig(() => readConfigOnce(registry.client, registry.prefix), cfg, f['config-check-interval'] * 1000, stop.signal, {
      log,
      notReady: (reason) => emit({ event: 'not-ready', reason }),
      ready: (detail) => emit({ event: 'ready', detail }),
    })

  const why = await registry.keep(lease, stop.signal)
  if (why === 'revoked') log('Lease has been revoked. Shutting down daemon.')
  process.exit(0)
}

type F = ReturnType<typeof parseFlags<typeof SPEC>>

/** etcd (flannel's layout) or, with --kube-subnet-mgr, our Kubernetes Node; bad settings exit 2. */
async function openRegistry(f: F): Promise<Registry> {
  if (f['kube-subnet-mgr']) {
    return await kubeRegistryFromFlags(f, { dryRun: f['dry-run'] })
  }
  return new EtcdRegistry(etcdFromFlags(f), f['etcd-prefix'], {
    log,
    dryRun: f['dry-run'],
    previous: () => previousSubnet(f['subnet-file']),
    previousV6: () => previousSubnet(f['subnet-file'], 6),
    ttl: f['subnet-lease-ttl'],
    marginMs: f['subnet-lease-renew-margin'] * 60_000,
    checkMs: f['lease-check-interval'] * 1000,
    onExpiry: (t: number) => emit({ event: 'lease', expiry: Math.round(t / 1000) }),
  })
}

function parseArgs(): F {
  const f: F = parseFlags(process.argv.slice(2), SPEC, { envPrefix: 'FLANNELD_', positional: false })
  if (f.help) {
    process.stdout.write(
      helpText(
        'weft-subnet [flags]',
        "Acquire this node's pod subnet (an etcd lease in flannel's layout, or static --network/--subnet), write subnet.env, keep the lease renewed.",
        SPEC,
        'FLANNELD_',
      ),
    )
    process.exit(0)
  }
  if (f._.length) throw new UsageError(`unexpected arguments: ${f._.join(' ')}`)
  const m = f['subnet-lease-renew-margin']
  if (m < 1 || m > 1439) fail(`--subnet-lease-renew-margin=${m}: must be from 1 to 1439 minutes`)
  const ttl = f['subnet-lease-ttl']
  if (ttl <= m * 60 || ttl > 10 * LEASE_TTL) fail(`--subnet-lease-ttl=${ttl}: must be longer than the renew margin (${m} min) and at most ${10 * LEASE_TTL}`)
  const check = f['lease-check-interval']
  if (check < 0 || check > 86400) fail(`--lease-check-interval=${check}: must be from 0 (off) to 86400 seconds`)
  const dev = f['device-check-interval']
  if (dev < 1 || dev > 3600) fail(`--device-check-interval=${dev}: must be from 1 to 3600 seconds`)
  const cc = f['config-check-interval']
  if (cc < 0 || cc > 3600) fail(`--config-check-interval=${cc}: must be from 0 (off) to 3600 seconds`)
  if (f.mtu && (f.mtu < 68 || f.mtu > 65535)) fail(`--mtu=${f.mtu}: must be from 68 to 65535`)
  if (!f['subnet-file']) fail('--subnet-file must not be empty')
  return f
}

/** Static mode: one host, no registry. FLANNEL_MTU is the interface MTU (no encapsulation). */
async function staticMode(f: F): Promise<void> {
  if (!f.network || !f.subnet) fail('static mode needs both --network and --subnet')
  const network = mustCidr('--network', f.network)
  const subnet = mustCidr('--subnet', f.subnet)
  if (subnet.family !== network.family) fail(`--subnet ${subnet.text} and --network ${network.text} are different IP families`)
  if (!containsCidr(network, subnet) || subnet.prefix <= network.prefix) fail(`--subnet ${subnet.text} is not a subnet inside --network ${network.text}`)
  if (subnet.prefix > (subnet.family === 4 ? 30 : 126)) fail(`--subnet ${subnet.text} is too small for a bridge and a pod`)
  const publicIp = mustIp('--public-ip', f['public-ip'], false)
  const mtu = f.mtu || (await selectLink(f.iface, publicIp)).mtu
  const env = formatSubnetEnv(network.family === 4 ? { network, subnet, mtu, ipmasq: f['ip-masq'] } : { ipv6Network: network, ipv6Subnet: subnet, mtu, ipmasq: f['ip-masq'] })
  if (f['dry-run']) {
    process.stdout.write(`cat > ${f['subnet-file']} <<'EOF'\n${env}EOF\n`)
    emit(
      network.family === 4
        ? { event: 'subnet', planned: true, file: f['subnet-file'], network: network.text, subnet: subnet.text, mtu }
        : { event: 'subnet', planned: true, file: f['subnet-file'], ipv6Network: network.text, ipv6Subnet: subnet.text, mtu },
    )
    return process.exit(0)
  }
  writeSubnetEnv(f['subnet-file'], env, { network, subnet, backend: 'static', mtu, publicIp })
  process.exit(0)
}

/**
 * vxlan: ensure flannel.<VNI> (publicIp IPv4) or flannel-v6.<VNI> (IPv6) on the external interface;
 * its MAC is published in the lease (BackendData, BackendV6Data).
 */
async function vxlanDevice(f: F, publicIp: Ip, cfg: NetworkConfig, wantMac?: string): Promise<{ spec: VxlanSpec; mac: string }> {
  if (f['backend-data']) fail("--backend-data cannot be used with the vxlan backend (BackendData is the device's VNI and MAC)")
  const ext = await selectLink(f.iface, publicIp.family === 4 ? publicIp : mustIp('--public-ip', f['public-ip'], true)!)
  let spec: VxlanSpec
  try {
    spec = vxlanSpec(cfg.backend as VxlanBackend, ext.name, await localAddress(ext.name, publicIp.text, publicIp.family), f.mtu || ext.mtu, publicIp.family)
  } catch (e) {
    fail(errText(e))
  }
  const mac = await ensureDevice(spec, f['dry-run'], log, wantMac)
  log(`vxlan device ${spec.name}: VNI ${spec.vni}, port ${spec.port}, MTU ${spec.mtu}, MAC ${mac}, on ${spec.dev} (${spec.local})`)
  return { spec, mac }
}

function writeSubnetEnv(
  path: string,
  env: string,
  o: { network: Cidr; subnet: Cidr; backend: string; mtu: number; publicIp?: Ip; ipv6Network?: Cidr; ipv6Subnet?: Cidr; publicIpv6?: Ip },
): void {
  try {
    writeFileAtomic(path, env)
  } catch (e) {
    fail(`failed to write ${path}: ${errText(e)}`)
  }
  log(`Wrote subnet file to ${path}`)
  const line: Record<string, unknown> = {
    event: 'subnet-written',
    file: path,
    network: o.network.text,
    subnet: o.subnet.text,
    backend: o.backend,
    mtu: o.mtu,
    publicIp: o.publicIp?.text ?? null,
  }
  if (o.ipv6Subnet) Object.assign(line, { ipv6Network: o.ipv6Network?.text, ipv6Subnet: o.ipv6Subnet.text, publicIpv6: o.publicIpv6?.text })
  process.stdout.write(JSON.stringify(line) + '\n')
  emit({
    event: 'subnet',
    planned: false,
    file: path,
    ...(o.network.family === 4 ? { network: o.network.text, subnet: o.subnet.text } : { ipv6Network: o.network.text, ipv6Subnet: o.subnet.text }),
    ...(o.ipv6Subnet ? { ipv6Network: o.ipv6Network?.text, ipv6Subnet: o.ipv6Subnet.text } : {}),
    mtu: o.mtu,
  })
}

/**
 * EnableIPv6: dual stack on host-gw or vxlan, and --public-ipv6 must be a plain unicast IPv6
 * address (peers route our IPv6 subnet, or send their IPv6 vxlan packets, to it). IPv6-only is
 * refused clearly.
 */
function ipv6Public(s: string, cfg: NetworkConfig): Ip {
  if (!cfg.enableIPv4) fail('EnableIPv4 false (IPv6-only) is not supported by weft yet: use dual stack (EnableIPv4 and EnableIPv6)')
  if (cfg.backend.type !== 'host-gw' && cfg.backend.type !== 'vxlan') fail(`EnableIPv6 is supported with the host-gw and vxlan backends only (not ${cfg.backend.type}) by weft yet`)
  if (!s) fail("--public-ipv6 is required with EnableIPv6 (the IPv6 address other nodes reach this one at; flanneld passes its interface's global IPv6 address when there is one)")
  let ip: Ip
  try {
    ip = parseIp(s, 6)
  } catch {
    fail(`--public-ipv6 ${JSON.stringify(s)}: not an IPv6 address`)
  }
  const v = ip.value
  if (v === 0n || v === 1n || v >> 120n === 0xffn || v >> 118n === 0x3fan || v >> 32n === 0xffffn) fail(`--public-ipv6 ${ip.text}: not a global unicast IPv6 address`)
  return ip
}

function backendData(s: string): Record<string, unknown> | null {
  if (!s) return null
  let v: unknown
  try {
    v = JSON.parse(s)
  } catch {
    fail(`--backend-data: not JSON: ${s}`)
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('--backend-data: must be a JSON object')
  return v as Record<string, unknown>
}

function mustIp(name: string, s: string, required: boolean): Ip | undefined {
  if (!s) return required ? fail(`${name} is required with etcd (the address other nodes reach this one at)`) : undefined
  try {
    return parseIp(s, 4)
  } catch {
    fail(`${name} ${JSON.stringify(s)}: not an IPv4 address`)
  }
}

function mustCidr(name: string, s: string): Cidr {
  try {
    return parseCidr(s)
  } catch {
    fail(`${name} ${JSON.stringify(s)}: not a CIDR (like 10.244.0.0/16)`)
  }
}

// Exit 3: a permanent registry error (refused credentials or rights, an untrusted server):
// flanneld stops instead of restarting the part into the same refusal.
runMain('weft-subnet', () =>
  main().catch((e) => {
    throw e instanceof PermanentError ? new FatalError(errText(e), 3) : e
  }),
)
