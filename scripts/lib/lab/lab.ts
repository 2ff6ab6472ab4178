// The lab: a cluster on one machine, entirely inside network namespaces it creates (and removes):
//   switch netns: bridge br0 (the underlay, 192.168.77.0/24) and etcd on 192.168.77.1
//   node netns n1..nN: eth0 on the underlay, flanneld (weft) running inside
//   pod netns: created through dist/flannel (the CNI plugin) with Debian's bridge + host-local
//   outside netns: a host beyond the cluster network, to see masquerade
// With ipv6 (dual stack) every one of them also gets an fd77::/64 underlay address (nodad: no
// ~1 s of "tentative"), and the network config enables IPv6 (IPv6Network fd44::/56).
// It never touches the root namespace: every link is made with `ip -n <ns>`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, existsSync, writeFileSync, openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../core/sh.ts'
import { untilPrinted, waitFor } from '../core/wait.ts'
import { LabKube } from './kube.ts'
import { parseCidr, formatIp } from '../net/cidr.ts'
import { firstHost, parseSubnetEnv, type SubnetEnv } from '../formats/subnet-env.ts'

export { destroyLab } from './destroy.ts'

export const UNDERLAY = '192.168.77'
export const OUTSIDE_IP = `${UNDERLAY}.200`
export const ETCD_IP = `${UNDERLAY}.1`
export const UNDERLAY6 = 'fd77::'
export const OUTSIDE_IP6 = `${UNDERLAY6}c8`
export const IPV6_NETWORK = 'fd44::/56'

export interface LabNode {
  index: number
  name: string
  ns: string
  ip: string
  /** with ipv6: fd77::1x */
  ip6?: string
  dir: string
  subnetFile: string
  flanneld?: ChildProcess
  /** flanneld's stderr (all its parts log there) */
  logFile: string
}

export interface LabPod {
  name: string
  ns: string
  node: LabNode
  containerId: string
  ip: string
  /** with ipv6: the pod's IPv6 address */
  ip6?: string
}

export interface LabOptions {
  id?: string
  network?: string
  backend?: string
  nftables?: boolean
  /** dual stack: IPv6 underlay addresses and EnableIPv6 in the network config */
  ipv6?: boolean
  dist: string
  cniPath?: string
  /** extra flanneld flags */
  flanneldArgs?: string[]
  /** extra keys of the network config put in etcd (SubnetMin, SubnetMax, ...) */
  config?: Record<string, unknown>
  /** the Kubernetes API test double instead of etcd (flanneld --kube-subnet-mgr); see kube.ts */
  kube?: boolean
  say?: (line: string) => void
}

export class Lab {
  readonly id: string
  readonly dir: string
  readonly sw: string
  readonly out: string
  readonly endpoint = `http://${ETCD_IP}:2379`
  readonly nodes: LabNode[] = []
  readonly pods: LabPod[] = []
  private etcd?: ChildProcess
  private procs: ChildProcess[] = []
  /** Kubernetes mode: the API double, its kubeconfig and net-conf.json */
  kube?: LabKube
  private namespaces: string[] = []
  private say: (l: string) => void

  constructor(readonly opts: LabOptions) {
    this.id = opts.id ?? Math.random().toString(36).slice(2, 7)
    this.dir = `/tmp/weft-lab-${this.id}`
    this.sw = `wl-${this.id}-sw`
    this.out = `wl-${this.id}-out`
    this.say = opts.say ?? (() => {})
  }

  get network(): string {
    return this.opts.network ?? '10.244.0.0/16'
  }

  private async netns(name: string): Promise<void> {
    await run(['ip', 'netns', 'add', name])
    this.namespaces.push(name)
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
  }

  /** Attach a namespace to the underlay switch with address ip/24 on its eth0. */
  private async cable(ns: string, port: string, ip: string, ip6?: string): Promise<void> {
    await run(['ip', '-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    await run(['ip', '-n', this.sw, 'link', 'set', port, 'master', 'br0', 'up'])
    const v6 = ip6 ? [`addr add ${ip6}/64 dev eth0 nodad`] : []
    await run(['ip', '-n', ns, '-batch', '-'], {
      input: [`addr add ${ip}/24 dev eth0`, ...v6, 'link set eth0 up', `route add default via ${ETCD_IP}`].join('\n') + '\n',
    })
  }

  /** The switch, etcd with the network config, and the outside host. */
  async up(): Promise<void> {
    mkdirSync(this.dir, { recursive: true })
    await this.netns(this.sw)
    await run(['ip', '-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge'])
    await run(['ip', '-n', this.sw, 'addr', 'add', `${ETCD_IP}/24`, 'dev', 'br0'])
    if (this.opts.ipv6) await run(['ip', '-n', this.sw, 'addr', 'add', `${UNDERLAY6}1/64`, 'dev', 'br0', 'nodad'])
    await run(['ip', '-n', this.sw, 'link', 'set', 'br0', 'up'])
    await this.netns(this.out)
    await this.cable(this.out, 'vout', OUTSIDE_IP, this.opts.ipv6 ? OUTSIDE_IP6 : undefined)
    const config = {
      Network: this.network,
      Backend: { Type: this.opts.backend ?? 'host-gw' },
      ...(this.opts.nftables ? { EnableNFTables: true } : {}),
      ...(this.opts.ipv6 ? { EnableIPv6: true, IPv6Network: IPV6_NETWORK } : {}),
      ...this.opts.config,
    }
    if (this.opts.kube) {
      this.kube = new LabKube({ dir: this.dir, sw: this.sw, ip: ETCD_IP, weftLab: join(this.opts.dist, 'weft-lab'), netConf: config })
      this.procs.push(await this.kube.start())
      return this.say(`Kubernetes API test double on https://${ETCD_IP}:6443 (netns ${this.sw}), net-conf.json ${JSON.stringify(config)}`)
    }
    await this.startEtcd()
    await this.etcdctl(['put', '/coreos.com/network/config', JSON.stringify(config)])
    this.say(`etcd on ${this.endpoint} (netns ${this.sw}), network config ${JSON.stringify(config)}`)
  }

  async startEtcd(): Promise<void> {
    const data = join(this.dir, 'etcd')
    const urls = `${this.endpoint},http://127.0.0.1:2379`
    this.etcd = this.spawnIn(
      this.sw,
      [
        'etcd',
        '--name',
        'lab',
        '--data-dir',
        data,
        '--listen-client-urls',
        urls,
        '--advertise-client-urls',
        this.endpoint,
        '--listen-peer-urls',
        'http://127.0.0.1:2380',
        '--initial-advertise-peer-urls',
        'http://127.0.0.1:2380',
        '--initial-cluster',
        'lab=http://127.0.0.1:2380',
        '--log-level',
        'error',
      ],
      join(this.dir, 'etcd.log'),
    )
    await this.until('etcd to answer', async () => (await this.etcdctl(['endpoint', 'health'], true)).code === 0, 15000)
  }

  async stopEtcd(): Promise<void> {
    const e = this.etcd
    if (!e || e.exitCode !== null) return
    const gone = new Promise((r) => e.once('exit', r))
    e.kill('SIGTERM')
    await gone
  }

  async etcdctl(args: string[], nothrow = false) {
    return run(['ip', 'netns', 'exec', this.sw, 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', ...args], { nothrow, env: { ...process.env, ETCDCTL_API: '3' } })
  }

  async addNode(): Promise<LabNode> {
    const index = this.nodes.length + 1
    const name = `node${index}`
    const ns = `wl-${this.id}-n${index}`
    const dir = join(this.dir, name)
    mkdirSync(dir, { recursive: true })
    await this.netns(ns)
    const ip6 = this.opts.ipv6 ? `${UNDERLAY6}${10 + index}` : undefined
    const node: LabNode = { index, name, ns, ip: `${UNDERLAY}.${10 + index}`, ip6, dir, subnetFile: join(dir, 'subnet.env'), logFile: join(dir, 'flanneld.log') }
    await this.cable(ns, `v${index}`, node.ip, ip6)
    // The node routes pods' IPv6 too (inside its own namespace only; the bridge plugin may not).
    if (ip6) await run(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1'])
    this.nodes.push(node)
    // As a controller-manager with --allocate-node-cidrs: the index-th /24 of the network (and in
    // dual stack the index-th /64 of the IPv6 network: podCIDRs holds one of each family).
    if (this.kube) {
      const v4 = `${formatIp(4, parseCidr(this.network).net + (BigInt(index) << 8n))}/24`
      this.kube.node(name, this.opts.ipv6 ? [v4, `${formatIp(6, parseCidr(IPV6_NETWORK).net + (BigInt(index) << 64n))}/64`] : [v4])
    }
    return node
  }

  /** flanneld inside the node's namespace; its stderr is kept in node.log. */
  startFlanneld(node: LabNode, extra: string[] = []): ChildProcess {
    const registry = this.kube
      ? this.kube.flanneld(node.name, join(this.opts.dist, 'flanneld'))
      : [process.execPath, join(this.opts.dist, 'flanneld'), `--etcd-endpoints=${this.endpoint}`]
    const args = [...registry, `--subnet-file=${node.subnetFile}`, '--ip-masq', '--iptables-resync=1', ...(this.opts.flanneldArgs ?? []), ...extra]
    const p = this.spawnIn(node.ns, args, node.logFile)
    node.flanneld = p
    return p
  }

  async stopFlanneld(node: LabNode): Promise<void> {
    const p = node.flanneld
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const gone = new Promise((r) => p.once('exit', r))
    p.kill('SIGTERM')
    await gone
  }

  /**
   * The usual cluster: `count` nodes; `beforeFlanneld` once they exist (a lease put by hand, say);
   * flanneld on each (with `args(node)`); every node ready, or an error showing that node's
   * flanneld log; then `pods(node)` pods on each (default 1).
   */
  async cluster(count: number, o: { args?: (n: LabNode) => string[]; pods?: (n: LabNode) => number; beforeFlanneld?: () => Promise<unknown> } = {}): Promise<void> {
    await this.up()
    for (let i = 0; i < count; i++) await this.addNode()
    await o.beforeFlanneld?.()
    for (const n of this.nodes) this.startFlanneld(n, o.args?.(n) ?? [])
    for (const n of this.nodes) await this.waitReady(n).catch((e) => Promise.reject(new Error(`${(e as Error).message}\n--- ${n.name} flanneld log ---\n${this.logOf(n)}`)))
    for (const n of this.nodes) for (let k = o.pods?.(n) ?? 1; k > 0; k--) await this.addPod(n)
  }

  async waitReady(node: LabNode, timeoutMs = 20000): Promise<string> {
    await this.until(`${node.name}'s subnet.env`, () => existsSync(node.subnetFile), timeoutMs)
    return this.subnetOf(node)
  }

  subnetOf(node: LabNode): string {
    const s = this.subnetEnv(node)?.subnet
    return s ? firstHost(s) : '?'
  }

  /** FLANNEL_IPV6_SUBNET as a network (fd44:0:0:3::1/64 -> fd44:0:0:3::/64), or undefined. */
  subnet6Of(node: LabNode): string | undefined {
    return this.subnetEnv(node)?.ipv6Subnet?.text
  }

  private subnetEnv(node: LabNode): SubnetEnv | undefined {
    try {
      return parseSubnetEnv(readFileSync(node.subnetFile, 'utf8'), node.subnetFile)
    } catch {
      return undefined
    }
  }

  cniConf(node: LabNode): string {
    return JSON.stringify({
      cniVersion: '1.0.0',
      name: 'cbr0',
      type: 'flannel',
      subnetFile: node.subnetFile,
      dataDir: join(node.dir, 'cni-flannel'),
      ipam: { dataDir: join(node.dir, 'cni-networks') },
      delegate: { hairpinMode: true, isDefaultGateway: true },
    })
  }

  private cniEnv(_node: LabNode, command: string, pod: { ns: string; containerId: string }): NodeJS.ProcessEnv {
    return {
      ...process.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: `/run/netns/${pod.ns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: `${this.opts.dist}:${this.opts.cniPath ?? '/usr/lib/cni'}`,
    }
  }

  /** A pod: a namespace given to the CNI plugin, run inside the node's namespace as a runtime would. */
  async addPod(node: LabNode): Promise<LabPod> {
    const k = this.pods.filter((p) => p.node === node).length + 1
    const name = `${node.name}-pod${k}`
    const ns = `wl-${this.id}-n${node.index}p${k}`
    await this.netns(ns)
    const containerId = `lab-${this.id}-${node.index}-${k}`
    const res = await run(['ip', 'netns', 'exec', node.ns, join(this.opts.dist, 'flannel')], {
      input: this.cniConf(node),
      env: this.cniEnv(node, 'ADD', { ns, containerId }),
    })
    const result = JSON.parse(res.stdout) as { ips?: { address: string }[] }
    const addrs = (result.ips ?? []).map((x) => x.address.split('/')[0])
    const ip = addrs.find((a) => !a.includes(':')) ?? ''
    const pod: LabPod = { name, ns, node, containerId, ip, ip6: addrs.find((a) => a.includes(':')) }
    this.pods.push(pod)
    return pod
  }

  async delPod(pod: LabPod): Promise<void> {
    await run(['ip', 'netns', 'exec', pod.node.ns, join(this.opts.dist, 'flannel')], { input: this.cniConf(pod.node), env: this.cniEnv(pod.node, 'DEL', pod) })
    this.pods.splice(this.pods.indexOf(pod), 1)
  }

  async ping(ns: string, ip: string): Promise<boolean> {
    const r = await run(['ip', 'netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', '-q', ip], { nothrow: true })
    return r.code === 0
  }

  /** Start a TCP server in ns on port; each connection is answered with the peer address it sees. Prints "up" once listening. */
  startWhoAmI(ns: string, ip: string, port = 7777): ChildProcess {
    const js = `require('net').createServer(s=>{s.end(s.remoteAddress.replace(/^::ffff:/,''))}).listen(${port},'${ip}',()=>console.log('up'))`
    return this.spawnIn(ns, [process.execPath, '-e', js])
  }

  /**
   * From pod a, in one family: the source address pod b sees (kept, between pods), and the one
   * the outside host sees (masqueraded to a's node).
   */
  async sourcesSeen(a: LabPod, b: LabPod, family: 4 | 6 = 4): Promise<{ byPod: string; outside: string }> {
    const target = (family === 4 ? b.ip : b.ip6) ?? (family === 4 ? '127.0.0.1' : '::1')
    const outside = family === 4 ? OUTSIDE_IP : OUTSIDE_IP6
    const srv = this.startWhoAmI(b.ns, target)
    const out = this.startWhoAmI(this.out, outside)
    try {
      await Promise.all([untilPrinted(srv, 'up', 5000), untilPrinted(out, 'up', 5000)])
      return { byPod: await this.sourceSeen(a.ns, target), outside: await this.sourceSeen(a.ns, outside) }
    } finally {
      srv.kill()
      out.kill()
    }
  }

  /** Connect from ns to ip:port and return the source address the server saw. */
  async sourceSeen(ns: string, ip: string, port = 7777): Promise<string> {
    const js = `const c=require('net').connect(${port},'${ip}');let d='';c.on('data',x=>d+=x);c.on('end',()=>{process.stdout.write(d);process.exit(0)});c.on('error',e=>{process.stdout.write('error: '+e.code);process.exit(0)});setTimeout(()=>{process.stdout.write('timeout');process.exit(0)},3000)`
    const r = await run(['ip', 'netns', 'exec', ns, process.execPath, '-e', js], { nothrow: true })
    return r.stdout.trim()
  }

  async routesOf(node: LabNode, family: 4 | 6 = 4): Promise<{ dst: string; gateway?: string; dev?: string }[]> {
    const r = await run(['ip', `-${family}`, '-n', node.ns, '-j', 'route', 'show'])
    return JSON.parse(r.stdout || '[]')
  }

  /** A process inside ns; with logFile its stdout+stderr go to that file (it may outlive us with --keep). */
  spawnIn(ns: string, argv: string[], logFile?: string): ChildProcess {
    let fd: number | undefined
    if (logFile) fd = openSync(logFile, 'a')
    const p = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'] })
    if (fd !== undefined) closeSync(fd)
    this.procs.push(p)
    return p
  }

  logOf(node: LabNode): string {
    return existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8') : ''
  }

  /** Waits for fn to hold, with a deadline (lib/core/wait.ts, the same wait the tests use). */
  async until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10000): Promise<void> {
    await waitFor(what, fn, timeoutMs, 100)
  }

  /** Remove everything: processes, namespaces (with every link in them), files. */
  async down(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM')
    await Promise.all(
      this.procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : Promise.race([new Promise((r) => p.once('exit', r)), new Promise((r) => setTimeout(r, 4000))]))),
    )
    this.downSync()
  }

  downSync(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    for (const ns of this.namespaces.splice(0).reverse()) {
      spawnSync('ip', ['netns', 'del', ns])
    }
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** A record of what --keep left, so `weft-lab --destroy <id>` can remove it later. */
  saveManifest(): void {
    const live = this.procs.filter((p) => p.exitCode === null && p.signalCode === null).map((p) => p.pid)
    writeFileSync(join(this.dir, 'manifest.json'), JSON.stringify({ namespaces: this.namespaces, pids: live }) + '\n')
  }
}
