// Benchmark of dist/weft-routes in Kubernetes mode (not a test):
//   node --import tsx test/bench/routes-kube.bench.ts [runs]
// The same namespaces and floor as routes.bench.ts: a "node" netns (veth0 172.16.0.1/16) and a
// "switch" netns holding etcd and the Kubernetes API test double (172.16.255.254).
// With 5000 Nodes (podCIDRs 10.x.y.0/24, flannel's annotations, a kubelet-like status) it prints:
//   floor   = one `etcdctl get --prefix` of 5000 leases + one raw `ip -batch` of the routes (the
//             etcd-mode floor of routes.bench.ts, measured in the same run)
//   daemon  = `weft-routes --kube-subnet-mgr` from spawn to its "routes: N added" line (paginated
//             list of 5000 Nodes, every Node judged, one batch applied), as a ratio to the floor
//   update  = 50 Nodes created one at a time: API write -> route seen by `ip monitor route`
//   RSS     = the daemon's VmHWM after the first sync and after the updates
import { spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadavg } from 'node:os'
import { Scope, must, dist, waitFor } from '../helpers/scope.ts'
import { startEtcd } from '../helpers/etcd.ts'
import { changeToRoute, latencyLine, median, now, peakRssMb } from './route-latency.ts'
import { startKubeDouble } from '../helpers/kube-double-client.ts'

const P = '/coreos.com/network'
const A = 'flannel.alpha.coreos.com/'
const peer = (i: number) => ({ dst: `10.${i >> 8}.${i & 255}.0/24`, gw: `172.16.${i >> 8}.${i & 255}` })
/** A Node as a kubelet and flannel leave it (addresses, nodeInfo, conditions, capacity: ~1.5 KB). */
const kubeNode = (name: string, dst: string, gw: string) => ({
  metadata: {
    name,
    labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    annotations: {
      [`${A}kube-subnet-manager`]: 'true',
      [`${A}backend-type`]: 'host-gw',
      [`${A}backend-data`]: 'null',
      [`${A}public-ip`]: gw,
      'node.alpha.kubernetes.io/ttl': '0',
      'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
    },
  },
  spec: { podCIDR: dst, podCIDRs: [dst] },
  status: {
    addresses: [
      { type: 'InternalIP', address: gw },
      { type: 'Hostname', address: name },
    ],
    capacity: { cpu: '4', memory: '16384Mi', pods: '110', 'ephemeral-storage': '102400Mi' },
    allocatable: { cpu: '4', memory: '16000Mi', pods: '110', 'ephemeral-storage': '94000Mi' },
    conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'].map((type) => ({
      type,
      status: type === 'Ready' ? 'True' : 'False',
      lastHeartbeatTime: '2026-01-01T00:00:00Z',
      lastTransitionTime: '2026-01-01T00:00:00Z',
      reason: `Kubelet${type}`,
      message: `kubelet reports ${type}`,
    })),
    nodeInfo: {
      kubeletVersion: 'v1.32.0',
      kubeProxyVersion: 'v1.32.0',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      kernelVersion: '6.1.0-28-amd64',
      containerRuntimeVersion: 'containerd://1.7.24',
      operatingSystem: 'linux',
      architecture: 'amd64',
      machineID: 'f'.repeat(32),
      systemUUID: name,
      bootID: name,
    },
  },
})

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5)
  const n = 5000
  delete process.env.NODE_EXTRA_CA_CERTS
  const scope = new Scope()
  try {
    const node = scope.ns('kn')
    const sw = scope.ns('ks')
    must(['ip', '-n', node, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'vsw', 'netns', sw])
    must(['ip', '-n', node, 'addr', 'add', '172.16.0.1/16', 'dev', 'veth0'])
    must(['ip', '-n', sw, 'addr', 'add', '172.16.255.254/16', 'dev', 'vsw'])
    must(['ip', '-n', node, 'link', 'set', 'veth0', 'up'])
    must(['ip', '-n', sw, 'link', 'set', 'vsw', 'up'])
    must(['ip', '-n', sw, 'link', 'set', 'lo', 'up'])

    // The etcd floor, as routes.bench.ts measures it (its helper loads the leases).
    const etcd = await startEtcd(scope, { netns: sw, ip: '172.16.255.254' })
    const h = scope.spawn(['node', '--import', 'tsx', fileURLToPath(new URL('routes.bench.ts', import.meta.url)), '--helper', etcd.endpoint], {
      netns: node,
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const replies = createInterface({ input: h.stdout! })[Symbol.asyncIterator]()
    h.stdin!.write(JSON.stringify({ op: 'load', from: 2, n }) + '\n')
    await replies.next()
    h.stdin!.end()

    const d = await startKubeDouble(scope, { netns: sw, host: '172.16.255.254' })
    await d.node('self', '10.0.1.0/24')
    for (let i = 2; i < n + 2; i += 500)
      await Promise.all(Array.from({ length: Math.min(500, n + 2 - i) }, (_, k) => d.call('createNode', kubeNode(`node-${i + k}`, peer(i + k).dst, peer(i + k).gw))))
    const tmp = scope.tmp('kube-bench')
    const subnetFile = join(tmp, 'subnet.env')
    writeFileSync(subnetFile, 'FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.0.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
    const netConf = join(tmp, 'net-conf.json')
    writeFileSync(netConf, '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"host-gw"}}')
    const kc = d.kubeconfig({ token: d.flannelToken })
    const args = [
      'env',
      'NODE_NAME=self',
      'WEFT_EVENTS_FD=3',
      dist('weft-routes'),
      '--kube-subnet-mgr',
      `--kubeconfig-file=${kc}`,
      `--net-config-path=${netConf}`,
      '--iface',
      'veth0',
      '--subnet-file',
      subnetFile,
    ]

    const flush = () => must(['ip', '-n', node, 'route', 'flush', 'root', '10.0.0.0/8'])
    const count = () => must(['ip', '-n', node, '-4', 'route', 'show', 'root', '10.0.0.0/8']).stdout.split('\n').filter(Boolean).length
    const time = (argv: string[], input?: string) => {
      const t0 = now()
      const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8', maxBuffer: 64 << 20 })
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`)
      return now() - t0
    }
    // The daemon's own account of each sync (its "synced" events, as flanneld reads them): how much
    // of an update's latency is spent inside it, from the event to the batch applied.
    const syncs: { full: boolean; seconds: number }[] = []
    const startDaemon = () => {
      const p = scope.spawn(args, { netns: node, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
      createInterface({ input: p.stdio[3] as NodeJS.ReadableStream }).on('line', (l) => {
        const ev = JSON.parse(l)
        if (ev.event === 'synced') syncs.push(ev)
      })
      let text = ''
      const t0 = now()
      const done = new Promise<number>((resolve, reject) => {
        p.stderr!.on('data', (c) => {
          text += c
          if (/routes: \d+ added/.test(text)) resolve(now() - t0)
        })
        p.once('exit', (c) => reject(new Error(`weft-routes exited ${c}: ${text}`)))
      })
      return { p, done, log: () => text }
    }
    const stop = async (p: ReturnType<typeof startDaemon>['p']) => {
      p.kill('SIGTERM')
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))
    }

    const batch = Array.from({ length: n }, (_, k) => peer(k + 2))
      .map((x) => `route replace ${x.dst} via ${x.gw} dev veth0\n`)
      .join('')
    const floor: number[] = []
    const daemon: number[] = []
    const load0 = loadavg()[0]
    for (let r = 0; r < runs; r++) {
      flush()
      floor.push(
        time(['ip', 'netns', 'exec', node, 'etcdctl', '--endpoints', etcd.endpoint, 'get', '--prefix', `${P}/subnets/`]) +
          time(['ip', 'netns', 'exec', node, 'ip', '-batch', '-'], batch),
      )
      flush()
      const dm = startDaemon()
      daemon.push(await dm.done)
      if (count() !== n) throw new Error(`daemon installed ${count()} of ${n} routes`)
      await stop(dm.p)
    }
    console.log(
      `load average (1 min) before the runs: ${load0.toFixed(1)} on 2 cores; now ${loadavg()[0].toFixed(1)} (other jobs share this machine: absolute figures move with it)`,
    )
    const f = median(floor)
    console.log(`${n} Nodes: floor (etcd mode's) ${f.toFixed(0)} ms | kube daemon to all routes ${median(daemon).toFixed(0)} ms (${(median(daemon) / f).toFixed(2)}x floor)`)

    flush()
    const dm = startDaemon()
    await dm.done
    await waitFor('the watch', () => /watching Nodes/.test(dm.log()), 10000)
    const hwm = () => peakRssMb(dm.p.pid!)
    // `env` execs weft-routes: the pid is the daemon's.
    const afterStart = hwm()
    syncs.length = 0
    const lat = await changeToRoute(scope, node, 50, async (i, dst) => {
      await d.call('createNode', kubeNode(`new-${i}`, dst, `172.16.100.${i + 1}`))
      return undefined
    })
    const inside = syncs.filter((x) => !x.full).map((x) => x.seconds * 1000)
    console.log(
      `Node create -> route (5000 Nodes, 50 creates): ${latencyLine(lat)}; of which inside the daemon (event's sync: plan + ip batch, ${inside.length} syncs) median ${median(inside).toFixed(1)} ms`,
    )
    await new Promise((r) => setTimeout(r, 10500)) // one full resync (kernel re-read, cache replay)
    console.log(`peak RSS (VmHWM) of the kube daemon at 5000 Nodes: ${afterStart.toFixed(1)} MB after the first sync, ${hwm().toFixed(1)} MB after 50 creates and a full resync`)
    await stop(dm.p)
  } finally {
    await scope.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
