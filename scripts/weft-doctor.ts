// weft-doctor: what is wrong with this node's pod network, and the command that fixes it. Read
// only. Takes flanneld's flags (same parser, same FLANNELD_* variables), derives the desired
// state with the parts' own code (the config and leases from etcd, or with --kube-subnet-mgr
// net-conf.json, our Node and the Nodes from the Kubernetes API; subnet.env; the route syncer's
// plan; the masquerade installer's rule sets) and compares it with the node it runs in
// (`ip netns exec <node> weft-doctor ...` for a namespace). Works with or without flanneld.
import { parseFlags, helpText, UsageError, type FlagSpec } from './lib/core/flags.ts'
import { errText } from './lib/core/log.ts'
import { selectIface, globalIpv6, type ExtIface } from './lib/net/iface.ts'
import { parseIp } from './lib/net/cidr.ts'
import { etcdArgs, etcdFromFlags } from './lib/registry/etcd/flags.ts'
import type { EtcdClient } from './lib/registry/etcd/client.ts'
import { kubeArgs } from './lib/registry/kube/flags.ts'
import { FLANNELD_SPEC } from './lib/daemon/flanneld-flags.ts'
import { backendMtu } from './lib/subnet/mtu.ts'
import { table, exitCode, fail, type Verdict } from './lib/doctor/report.ts'
import { readRegistry, readSubnetEnv, checkSubnetEnv, checkLease, type Desired } from './lib/doctor/desired.ts'
import { checkRoutes, checkMasq } from './lib/doctor/dataplane.ts'
import { kubeDoctorSetup, readKubeRegistry, checkSubnetEnvKube, checkAnnotations, annotatedPublicIp, type KubeSetup } from './lib/doctor/kube.ts'
import { checkProcesses, checkReadyz, checkSysctls, checkConflist, checkMtu } from './lib/doctor/node.ts'

// flanneld's own flags (one vocabulary: the doctor is given what flanneld was given), plus its own.
const SPEC = {
  ...FLANNELD_SPEC,
  'cni-conf-dir': { type: 'string', default: '/etc/cni/net.d', help: "weft-doctor's own: where the runtime reads network configs", arg: 'dir' },
  'cni-bin-dir': { type: 'string', default: '/opt/cni/bin', help: "weft-doctor's own: where the runtime finds plugins (colon-separated, like CNI_PATH)", arg: 'dirs' },
  json: { type: 'bool', help: "weft-doctor's own: print the checks as JSON (one object: ok, checks[])" },
} satisfies FlagSpec

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), SPEC, { envPrefix: 'FLANNELD_' })
  if (f.help) {
    process.stdout.write(helpText('weft-doctor [flanneld flags] [--json]', SUMMARY, SPEC, 'FLANNELD_'))
    return 0
  }
  if (f._.length) throw new UsageError(`unexpected argument ${JSON.stringify(f._[0])}`)
  for (const k of ['public-ip', 'iface-can-reach'] as const) {
    if (!f[k]) continue
    try {
      parseIp(f[k])
    } catch (e) {
      throw new UsageError(`--${k}: ${errText(e)}`)
    }
  }
  if (f['public-ipv6']) {
    try {
      parseIp(f['public-ipv6'], 6)
    } catch (e) {
      throw new UsageError(`--public-ipv6: ${errText(e)}`)
    }
  }
  const margin = f['subnet-lease-renew-margin']
  if (margin < 1 || margin > 1439) throw new UsageError(`--subnet-lease-renew-margin=${margin}: must be from 1 to 1439 minutes`)
  if (f['healthz-port'] < 0 || f['healthz-port'] > 65535) throw new UsageError(`--healthz-port=${f['healthz-port']}: not a port`)
  // The registry flanneld was given: etcd, or with --kube-subnet-mgr the Kubernetes API (its
  // net-conf.json, credentials and node name checked here, before any request).
  let etcd: EtcdClient | undefined
  let kube: KubeSetup | undefined
  try {
    if (f['kube-subnet-mgr']) kube = kubeDoctorSetup(f)
    else etcd = etcdFromFlags(f)
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError(errText(e))
  }

  const vs: Verdict[] = []
  const wantMasq = f['ip-masq'] || f['iptables-forward-rules']
  // 1. flanneld and its parts, and what flanneld itself says.
  vs.push(checkProcesses(wantMasq))
  if (f['healthz-port']) vs.push(await checkReadyz(f['healthz-ip'], f['healthz-port']))
  // 2. Desired state: the registry (config, our lease or our Node, the peers).
  const d: Desired = {}
  const prefix = f['etcd-prefix']
  vs.push(kube ? await readKubeRegistry(kube, d) : await readRegistry(etcd!, prefix, d))
  // 3. The interface, chosen as flanneld chooses it (in Kubernetes mode our Node's
  //    node-public-ip annotation stands for --public-ip, as in flanneld).
  const givenIp = f['public-ip'] || annotatedPublicIp(d)
  let ext: ExtIface | undefined
  try {
    ext = await selectIface({ iface: f.iface, ifaceRegex: f['iface-regex'], canReach: f['iface-can-reach'] || undefined, publicIp: givenIp || undefined })
  } catch (e) {
    vs.push(fail('interface', errText(e), 'give flanneld --iface (and the doctor the same)'))
  }
  const publicIp = givenIp || ext?.ip.text || ''
  // Dual stack: --public-ipv6, else node-public-ipv6, else the interface's global IPv6 (as flanneld).
  const publicIpv6 = d.cfg?.enableIPv6 ? f['public-ipv6'] || annotatedPublicIp(d, 6) || (ext ? await globalIpv6(ext.name) : '') : ''
  // 4. subnet.env against our lease (etcd) or our Node's podCIDR (Kubernetes); the lease's time
  //    left, or the annotations we publish on our Node.
  const envProblem = readSubnetEnv(f['subnet-file'], d)
  if (envProblem) vs.push(envProblem)
  else vs.push(kube ? checkSubnetEnvKube(f['subnet-file'], d) : checkSubnetEnv(f['subnet-file'], d, prefix, publicIp))
  if (kube) vs.push(...(await checkAnnotations(d, publicIp, publicIpv6, f['set-node-network-unavailable'])))
  else vs.push(await checkLease(etcd!, d, margin))
  // 5. The kernel against it, with the parts' planning code.
  if (ext) {
    const registryArgs = kube ? kubeArgs(f) : etcdArgs(f)
    const env = kube && d.kube ? `NODE_NAME=${d.kube.name} ` : ''
    const fix = `${env}weft-routes --once --iface=${ext.name} ${registryArgs.join(' ')} --subnet-file=${f['subnet-file']} (what the running syncer does at its next resync)`
    vs.push(...(await checkRoutes(d, prefix, ext.name, fix)))
  }
  vs.push(await checkMasq(d, { ipMasq: f['ip-masq'], forward: f['iptables-forward-rules'], fullyRandomDisabled: f['ip-masq-fully-random-disable'] }))
  // 6. What pods need from the node.
  vs.push(checkConflist(f['cni-conf-dir'], f['cni-bin-dir'].split(':').filter(Boolean)))
  vs.push(...checkSysctls(!!d.cfg?.enableIPv6 && !!d.env?.ipv6Subnet))
  if (ext) vs.push(await checkMtu({ name: ext.name, mtu: ext.mtu }, d.cfg ? backendMtu(d.cfg.backend, ext.mtu) : undefined, d.env?.mtu))
  etcd?.close()
  kube?.client.close()

  if (f.json) process.stdout.write(JSON.stringify({ ok: exitCode(vs) === 0, checks: vs }, null, 2) + '\n')
  else process.stdout.write(table(vs, Math.max(100, process.stdout.columns ?? 120)))
  return exitCode(vs)
}

const SUMMARY = `Checks this node's pod network, read only, and names what is wrong with the command that
fixes it: flanneld and its parts running; flanneld's /readyz (with --healthz-port); the registry
reachable and its config; subnet.env against our lease; the lease's time left (with
--kube-subnet-mgr: the Kubernetes API, our Node's podCIDR(s) and the annotations we publish, IPv6 ones
in dual stack); peer routes
(host-gw) or the vxlan device and its neigh/fdb/route entries, missing, wrong or stale, planned
by the route syncer's own code; FLANNEL-POSTRTG/FLANNEL-FWD (or the nftables tables) complete
and in order; the CNI config and its plugins; forwarding and br_netfilter sysctls; one MTU from
the interface to the pods. Give it flanneld's flags. Inside a network namespace:
ip netns exec <ns> weft-doctor .... Exit 0: healthy; 1: something is wrong; 2: usage error.`

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`weft-doctor: ${e.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`weft-doctor: ${errText(e)}\n`)
    process.exit(1)
  },
)
