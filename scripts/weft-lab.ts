// The lab, README command 1: a 3-node cluster on this machine, entirely in network namespaces.
// It builds the cluster (underlay switch, etcd, flanneld on every node), creates pods through the
// CNI plugin, shows every pod reaching every other pod and the outside host through masquerade,
// prints a table, and removes everything (unless --keep).
import { existsSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { parseFlags, helpText, UsageError } from './lib/core/flags.ts'
import { runMain } from './lib/core/cli.ts'
import { errText } from './lib/core/log.ts'
import { run } from './lib/core/sh.ts'
import { Lab, destroyLab, OUTSIDE_IP, OUTSIDE_IP6, type LabPod } from './lib/lab/lab.ts'
import { doctorArgs, doctorEnv, runDoctor } from './lib/lab/doctor.ts'
import { readyz } from './lib/lab/probe.ts'
import { serveKubeDouble } from '../test/helpers/kube-double-serve.ts'

const SPEC = {
  nodes: { type: 'int', default: 3, help: 'number of nodes' },
  pods: { type: 'int', default: 2, help: 'pods per node' },
  network: { type: 'string', default: '10.244.0.0/16', help: 'the cluster network (flannel Network)', arg: 'cidr' },
  backend: { type: 'string', default: 'host-gw', help: 'flannel backend: host-gw or vxlan (flannel.1 overlay)', arg: 'type' },
  'direct-routing': { type: 'bool', help: 'with --backend vxlan: "DirectRouting": true (peers on the same segment get plain routes)' },
  nftables: { type: 'bool', help: 'masquerade through nftables (EnableNFTables) instead of iptables' },
  kube: { type: 'bool', help: 'Kubernetes mode: the Kubernetes API test double instead of etcd, Nodes given podCIDRs as a controller-manager would, flanneld --kube-subnet-mgr' },
  ipv6: { type: 'bool', help: 'dual stack: IPv6 underlay (fd77::/64) and EnableIPv6 (IPv6Network fd44::/56); with vxlan, flannel-v6.1 too' },
  'cni-path': { type: 'string', default: '/usr/lib/cni', help: "where Debian's reference bridge and host-local live", arg: 'dir' },
  keep: { type: 'bool', help: 'leave the lab running; remove it later with --destroy <id>' },
  destroy: { type: 'string', help: 'remove a lab left by --keep', arg: 'id' },
  help: { type: 'bool', help: 'show this help' },
} as const

const say = (s = '') => process.stdout.write(s + '\n')

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), SPEC)
  if (f.help) {
    process.stdout.write(helpText('weft-lab [flags]', SUMMARY, SPEC))
    return 0
  }
  if (f.destroy) {
    const gone = destroyLab(f.destroy)
    say(`removed lab ${f.destroy}: ${gone.join(' ')}`)
    return 0
  }
  if (f.nodes < 2 || f.nodes > 20) throw new UsageError('--nodes must be between 2 and 20')
  if (f.pods < 1 || f.pods > 20) throw new UsageError('--pods must be between 1 and 20')
  if (f.backend !== 'host-gw' && f.backend !== 'vxlan') throw new UsageError(`--backend ${JSON.stringify(f.backend)}: the lab runs host-gw or vxlan`)
  if (f['direct-routing'] && f.backend !== 'vxlan') throw new UsageError('--direct-routing is a vxlan option (use it with --backend vxlan)')

  // 1. Everything needed is here, or say what to install.
  const dist = dirname(process.argv[1])
  await preflight(dist, f['cni-path'], f.nftables, f.kube)

  // 2. The cluster: switch + etcd + outside host, then nodes running flanneld.
  const config = f['direct-routing'] ? { Backend: { Type: 'vxlan', DirectRouting: true } } : undefined
  const lab = new Lab({ dist, network: f.network, backend: f.backend, nftables: f.nftables, ipv6: f.ipv6, cniPath: f['cni-path'], config, say, kube: f.kube })
  const cleanup = () => lab.downSync()
  process.on('SIGINT', () => (cleanup(), process.exit(130)))
  process.on('SIGTERM', () => (cleanup(), process.exit(143)))
  let failed = 0
  try {
    say(
      `weft lab ${lab.id}: ${f.nodes} nodes, ${f.pods} pods each, network ${f.network}, backend ${f.backend}${f['direct-routing'] ? ' (DirectRouting)' : ''}${f.kube ? ', Kubernetes mode' : ''}`,
    )
    await lab.cluster(f.nodes, { pods: () => 0, args: () => ['--healthz-ip=127.0.0.1', '--healthz-port=8081'] })
    say(`flanneld is ready on every node`)

    // 3. Pods through the CNI plugin.
    for (const n of lab.nodes) for (let k = 0; k < f.pods; k++) await lab.addPod(n)

    // 4. Routes: every node has one to every other node's subnet.
    for (const n of lab.nodes) {
      const want = lab.nodes.filter((m) => m !== n).flatMap((m) => [lab.subnetOf(m).replace(/\.1\//, '.0/'), ...(f.ipv6 ? [lab.subnet6Of(m) ?? '(no IPv6 subnet)'] : [])])
      await lab
        .until(
          `${n.name}'s routes to ${want.join(', ')}`,
          async () => {
            const have = new Set([...(await lab.routesOf(n)), ...(f.ipv6 ? await lab.routesOf(n, 6) : [])].map((r) => r.dst))
            return want.every((w) => have.has(w))
          },
          20000,
        )
        .catch((e) => Promise.reject(new Error(`${errText(e)}\n--- ${n.name} flanneld log ---\n${lab.logOf(n)}`)))
    }
    table(lab)

    // 5. Every pod reaches every other pod; the source is kept inside the network and
    //    masqueraded to the node's address outside it. The same over IPv6 for a dual-stack lab.
    failed += await familyChecks(lab, 4)
    if (f.ipv6) failed += await familyChecks(lab, 6)

    // 6. What an operator on a node runs when something looks wrong: the doctor, on node1.
    const n1 = lab.nodes[0]
    // weft-routes re-reads forwarding at its resync: the first pod's bridge turns it on just after
    // cni0 appears, so let the node settle (a deadline, not a sleep) before asking the doctor.
    await lab.until(`${n1.name} ready (/readyz)`, async () => (await readyz(n1.ns)).ready, 30000).catch(() => say(`${n1.name} is not ready after 30 s; the doctor says why`))
    say(`\nweft-doctor on ${n1.name}:  ip netns exec ${n1.ns} ${[...doctorEnv(lab, n1), 'weft-doctor', ...doctorArgs(lab, n1)].join(' ')}`)
    const doc = await runDoctor(lab, n1)
    say(doc.stdout.trimEnd() || doc.stderr.trimEnd())
    if (doc.code !== 0) failed++

    say(failed ? `\n${failed} check(s) FAILED` : '\nall checks passed')
    if (f.keep) {
      lab.saveManifest()
      say(`\nkept running. Look around:  ip netns exec ${lab.nodes[0].ns} ip route;  ip netns exec ${lab.nodes[0].ns} iptables -t nat -S FLANNEL-POSTRTG`)
      say(`logs in ${lab.dir}/node*/flanneld.log; remove it all with:  node ${join(dist, 'weft-lab')} --destroy ${lab.id}`)
      return failed ? 1 : 0
    }
  } catch (e) {
    await lab.down()
    throw e
  }
  for (const p of [...lab.pods]) await lab.delPod(p)
  for (const n of lab.nodes) await lab.stopFlanneld(n)
  await lab.down()
  say('lab removed')
  return failed ? 1 : 0
}

/** Pod to pod (ping), source kept between nodes, masquerade to the node's address; one family. */
async function familyChecks(lab: Lab, family: 4 | 6): Promise<number> {
  const podIp = (p: LabPod) => (family === 4 ? p.ip : p.ip6)
  const nodeIp = (p: LabPod) => (family === 4 ? p.node.ip : p.node.ip6)
  const outside = family === 4 ? OUTSIDE_IP : OUTSIDE_IP6
  say(family === 4 ? '\npod-to-pod (ping):' : '\nIPv6 pod-to-pod (ping -6):')
  const pairs: [LabPod, LabPod][] = []
  for (const a of lab.pods) for (const b of lab.pods) if (a !== b) pairs.push([a, b])
  // A first IPv6 echo may be lost while the new cni0 address finishes DAD or a neighbour resolves: retry twice.
  const ping = async (ns: string, ip: string) => (await lab.ping(ns, ip)) || (family === 6 && ((await lab.ping(ns, ip)) || (await lab.ping(ns, ip))))
  const results = await Promise.all(pairs.map(async ([a, b]) => [a, b, !!podIp(b) && (await ping(a.ns, podIp(b)!))] as const))
  for (const a of lab.pods) {
    const row = results.filter(([x]) => x === a).map(([, b, ok]) => `${ok ? 'ok ' : 'FAIL'} ${b.name}`)
    say(`  ${a.name.padEnd(12)} -> ${row.join('  ')}`)
  }
  const failed = results.filter(([, , ok]) => !ok).length

  const [a, b] = [lab.pods[0], lab.pods.find((p) => p.node !== lab.pods[0].node)!]
  const { byPod: seenByPod, outside: seenOutside } = await lab.sourcesSeen(a, b, family)
  const okPod = seenByPod === podIp(a)
  const okOut = seenOutside === nodeIp(a)
  say(`\n${a.name} (${podIp(a)}) -> ${b.name} (${podIp(b)}): the pod sees ${seenByPod} ${okPod ? '(the pod address is kept)' : `FAIL: expected ${podIp(a)}`}`)
  say(`${a.name} (${podIp(a)}) -> outside host ${outside}: it sees ${seenOutside} ${okOut ? `(masqueraded to ${a.node.name}'s address)` : `FAIL: expected ${nodeIp(a)}`}`)
  return failed + (okPod ? 0 : 1) + (okOut ? 0 : 1)
}

function table(lab: Lab): void {
  say('\nnode    public IP        subnet           pods')
  for (const n of lab.nodes) {
    const pods = lab.pods.filter((p) => p.node === n).map((p) => `${p.name.split('-')[1]} ${p.ip}`)
    say(`${n.name.padEnd(8)}${n.ip.padEnd(17)}${lab.subnetOf(n).padEnd(17)}${pods.join(', ')}`)
    if (n.ip6)
      say(
        `${''.padEnd(8)}${n.ip6.padEnd(17)}${(lab.subnet6Of(n) ?? '-').padEnd(17)}${lab.pods
          .filter((p) => p.node === n)
          .map((p) => `${p.name.split('-')[1]} ${p.ip6}`)
          .join(', ')}`,
      )
  }
}

async function preflight(dist: string, cniPath: string, nft: boolean, kube: boolean): Promise<void> {
  const missing: string[] = []
  if (process.getuid?.() !== 0) missing.push('root: run it as root (network namespaces, iptables)')
  const cmds: [string, string][] = [
    ['ip', 'iproute2'],
    ...(kube
      ? []
      : ([
          ['etcd', 'etcd-server'],
          ['etcdctl', 'etcd-client'],
        ] as [string, string][])),
    ['iptables', 'iptables'],
    ['ping', 'iputils-ping'],
  ]
  if (nft) cmds.push(['nft', 'nftables'])
  if (kube) cmds.push(['openssl', 'openssl'])
  for (const [cmd, pkg] of cmds) {
    if ((await run(['bash', '-c', 'command -v "$1"', '_', cmd], { nothrow: true })).code !== 0) missing.push(`${cmd}: apt-get install ${pkg}`)
  }
  for (const p of ['bridge', 'host-local']) if (!existsSync(join(cniPath, p))) missing.push(`${join(cniPath, p)}: apt-get install containernetworking-plugins`)
  for (const b of ['flannel', 'flanneld', 'weft-subnet', 'weft-masq', 'weft-routes', 'weft-doctor'])
    if (!existsSync(join(dist, b))) missing.push(`${join(dist, b)}: run npm run build`)
  if (missing.length) throw new Error(`the lab cannot start; missing:\n  ${missing.join('\n  ')}\n(npm run lab installs all of it on Debian)`)
}

const SUMMARY = `
Builds a cluster of --nodes nodes on this machine, entirely inside network namespaces (nothing in the
root namespace changes): an underlay switch, a real etcd, flanneld (weft) on every node, pods created
through the flannel CNI plugin with Debian's reference bridge and host-local. It shows every pod
reaching every other pod, the pod address kept between nodes and masqueraded to the outside host,
prints a table, then removes everything (unless --keep). Exit status 1 if a check failed.`

// The lab's Kubernetes API test double runs as this same bundle, in the switch namespace.
if (process.argv[2] === '--serve-kube-double') void serveKubeDouble(process.argv.slice(3))
else runMain('weft-lab', async () => (await main()) ?? 0)
