// Benchmark of dist/weft-routes (not a test): node --import tsx test/bench/routes.bench.ts [runs]
// Everything runs in throwaway namespaces: a "node" netns whose veth0 (172.16.0.1/16) reaches a
// "switch" netns holding etcd (172.16.255.254), so every `via 172.16.x.y` is on-link.
// For 1000 and 5000 synthetic host-gw leases (10.0.0.0/8, /24 subnets) it prints medians of:
//   floor  = one `etcdctl get --prefix` of the keys + one raw `ip -batch` of the same routes
//   bare   = test/bench/bare-sync.cjs: the least any Node process can do for the same sync (a
//            BASELINE, no library, no checks), from spawn to exit; it shows Node's own share
//   once   = `weft-routes --once` from spawn to exit (all routes in the kernel)
//   daemon = `weft-routes` from spawn to its "routes: N added" line (batch applied)
// NODE_EXTRA_CA_CERTS, when set (as on these workstations), makes every Node start-up read a CA
// bundle (~30 ms here): it is removed from the environment of everything timed.
// then, at 5000 peers with the daemon running, the latency from a lease put to its route
// appearing (`ip monitor route`), 50 times, and the daemon's peak RSS (VmHWM).
import { spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Scope, must, dist, waitFor } from '../helpers/scope.ts'
import { startEtcd } from '../helpers/etcd.ts'
import { changeToRoute, latencyLine, median, now, peakRssMb } from './route-latency.ts'

const P = '/coreos.com/network'
const peer = (i: number) => ({ key: `${P}/subnets/10.${i >> 8}.${i & 255}.0-24`, dst: `10.${i >> 8}.${i & 255}.0/24`, gw: `172.16.${i >> 8}.${i & 255}` })
const leaseValue = (gw: string) => JSON.stringify({ PublicIP: gw, PublicIPv6: null, BackendType: 'host-gw', BackendData: null })

// Helper mode, run inside the node netns: etcd writes over the v3 JSON gateway, one JSON line each.
async function helper(endpoint: string): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const post = async (path: string, body: unknown) => {
    const r = await fetch(endpoint + path, { method: 'POST', body: JSON.stringify(body) })
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`)
    return r.json()
  }
  for await (const line of createInterface({ input: process.stdin })) {
    const c = JSON.parse(line)
    const t = now()
    if (c.op === 'load') {
      // etcd's default --max-txn-ops is 128: load in transactions of 128 puts.
      for (let i = c.from; i < c.from + c.n; i += 128) {
        const ops = []
        for (let j = i; j < Math.min(i + 128, c.from + c.n); j++) ops.push({ request_put: { key: b64(peer(j).key), value: b64(leaseValue(peer(j).gw)) } })
        await post('/v3/kv/txn', { success: ops })
      }
    } else if (c.op === 'put') await post('/v3/kv/put', { key: b64(c.key), value: b64(c.value) })
    else if (c.op === 'clear') await post('/v3/kv/deleterange', { key: b64(`${P}/subnets/`), range_end: b64(`${P}/subnets0`) })
    process.stdout.write(JSON.stringify({ t }) + '\n')
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5)
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    delete process.env.NODE_EXTRA_CA_CERTS
    console.log("(NODE_EXTRA_CA_CERTS removed from the timed processes' environment: it adds ~30 ms to every Node start-up)")
  }
  const scope = new Scope()
  try {
    const node = scope.ns('bn')
    const sw = scope.ns('bs')
    must(['ip', '-n', node, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'vsw', 'netns', sw])
    must(['ip', '-n', node, 'addr', 'add', '172.16.0.1/16', 'dev', 'veth0'])
    must(['ip', '-n', sw, 'addr', 'add', '172.16.255.254/16', 'dev', 'vsw'])
    must(['ip', '-n', node, 'link', 'set', 'veth0', 'up'])
    must(['ip', '-n', sw, 'link', 'set', 'vsw', 'up'])
    const etcd = await startEtcd(scope, { netns: sw, ip: '172.16.255.254' })
    const ctl = (args: string[]) => must(['ip', 'netns', 'exec', node, 'etcdctl', '--endpoints', etcd.endpoint, ...args])
    ctl(['put', `${P}/config`, '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"host-gw"}}'])
    const tmp = scope.tmp('routes-bench')
    const subnetFile = join(tmp, 'subnet.env')
    writeFileSync(subnetFile, 'FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=10.0.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
    const syncArgs = ['--etcd-endpoints', etcd.endpoint, '--iface', 'veth0', '--subnet-file', subnetFile]

    const h = scope.spawn(['node', '--import', 'tsx', fileURLToPath(import.meta.url), '--helper', etcd.endpoint], { netns: node, stdio: ['pipe', 'pipe', 'inherit'] })
    const replies = createInterface({ input: h.stdout! })[Symbol.asyncIterator]()
    const call = async (c: object): Promise<number> => {
      h.stdin!.write(JSON.stringify(c) + '\n')
      const r = await replies.next()
      if (r.done) throw new Error('helper died')
      return JSON.parse(r.value).t
    }
    const flush = () => must(['ip', '-n', node, 'route', 'flush', 'root', '10.0.0.0/8'])
    const count = () => must(['ip', '-n', node, '-4', 'route', 'show', 'root', '10.0.0.0/8']).stdout.split('\n').filter(Boolean).length
    const time = (argv: string[], input?: string) => {
      const t0 = now()
      const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8', maxBuffer: 64 << 20 })
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`)
      return now() - t0
    }
    const startDaemon = () => {
      const p = scope.spawn([dist('weft-routes'), ...syncArgs], { netns: node })
      let text = ''
      const t0 = now()
      const done = new Promise<number>((resolve) =>
        p.stderr!.on('data', (d) => {
          text += d
          if (/routes: \d+ added/.test(text)) resolve(now() - t0)
        }),
      )
      return { p, done, log: () => text }
    }
    const stop = async (p: ReturnType<typeof startDaemon>['p']) => {
      p.kill('SIGTERM')
      await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))
    }

    const rows: string[] = []
    for (const n of [1000, 5000]) {
      await call({ op: 'clear' })
      await call({ op: 'load', from: 2, n })
      const batch = Array.from({ length: n }, (_, k) => peer(k + 2))
        .map((x) => `route replace ${x.dst} via ${x.gw} dev veth0\n`)
        .join('')
      const floor: number[] = []
      const bare: number[] = []
      const once: number[] = []
      const daemon: number[] = []
      for (let r = 0; r < runs; r++) {
        flush()
        const read = time(['ip', 'netns', 'exec', node, 'etcdctl', '--endpoints', etcd.endpoint, 'get', '--prefix', `${P}/subnets/`])
        floor.push(read + time(['ip', 'netns', 'exec', node, 'ip', '-batch', '-'], batch))
        if (count() !== n) throw new Error('floor batch did not install every route')
        flush()
        bare.push(time(['ip', 'netns', 'exec', node, 'node', fileURLToPath(new URL('bare-sync.cjs', import.meta.url)), etcd.endpoint, P, 'veth0']))
        if (count() !== n) throw new Error(`bare-sync installed ${count()} of ${n} routes`)
        flush()
        once.push(time(['ip', 'netns', 'exec', node, dist('weft-routes'), ...syncArgs, '--once']))
        if (count() !== n) throw new Error(`--once installed ${count()} of ${n} routes`)
        flush()
        const d = startDaemon()
        daemon.push(await d.done)
        if (count() !== n) throw new Error(`daemon installed ${count()} of ${n} routes`)
        await stop(d.p)
      }
      const f = median(floor)
      const b = median(bare)
      const vs = (x: number) => `${x.toFixed(0)} ms (${(x / f).toFixed(2)}x floor, ${(x / b).toFixed(2)}x bare)`
      rows.push(`${n} peers: floor ${f.toFixed(0)} ms | bare Node ${b.toFixed(0)} ms (${(b / f).toFixed(2)}x floor) | --once ${vs(median(once))} | daemon ${vs(median(daemon))}`)
      console.log(rows.at(-1))
    }

    // Watch latency at 5000 peers, daemon running: lease put -> route seen by `ip monitor route`.
    flush()
    const d = startDaemon()
    await d.done
    await waitFor('the watch', () => /watching/.test(d.log()), 10000)
    const hwm = () => peakRssMb(d.p.pid!)
    const afterStart = hwm()
    const lat = await changeToRoute(scope, node, 50, (i) => call({ op: 'put', key: `${P}/subnets/10.100.${i}.0-24`, value: leaseValue(`172.16.100.${i + 1}`) }))
    rows.push(`watch latency (5000 peers, 50 puts): ${latencyLine(lat)}`)
    console.log(rows.at(-1))
    const afterWatch = hwm()
    // Let one full resync (kernel re-read + registry re-list of 5000) run too.
    await new Promise((r) => setTimeout(r, 10500))
    rows.push(
      `peak RSS (VmHWM) of the daemon at 5000 peers: ${afterStart.toFixed(1)} MB after the first sync, ${afterWatch.toFixed(1)} MB after 50 watch updates, ${hwm().toFixed(1)} MB after a full resync (kernel re-read, re-list)`,
    )
    console.log(rows.at(-1))
    await stop(d.p)
    const t = spawnSync('ip', ['netns', 'exec', node, '/usr/bin/time', '-v', dist('weft-routes'), ...syncArgs, '--once'], { encoding: 'utf8' })
    const maxrss = /Maximum resident set size \(kbytes\): (\d+)/.exec(t.stderr)?.[1]
    rows.push(`peak RSS of --once at 5000 peers: ${(Number(maxrss) / 1024).toFixed(1)} MB`)
    console.log(rows.at(-1))
    h.stdin!.end()
  } finally {
    await scope.close()
  }
}

if (process.argv[2] === '--helper') void helper(process.argv[3])
else
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
