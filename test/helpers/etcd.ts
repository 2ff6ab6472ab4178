// A real etcd for tests: started on 127.0.0.1 (or an address inside a test namespace) with a
// throwaway data dir, stopped by the scope.
import { createServer } from 'node:net'
import { type Scope, waitFor, sh } from './scope.ts'

export async function freePort(): Promise<number> {
  return await new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => res(p))
    })
  })
}

export interface Etcd {
  endpoint: string
  /** its data directory (a test may wipe it between stop() and start()) */
  dataDir: string
  stop(): Promise<void>
  start(): Promise<void>
}

export interface EtcdOptions {
  netns?: string
  ip?: string
  extraArgs?: string[]
  /** https with this server certificate and key; with trustedCa, client certificates are required */
  tls?: { cert: string; key: string; trustedCa?: string }
  /** more client URLs to listen on (a unix:// socket, say) */
  alsoListen?: string[]
  /** etcd's working directory (where it makes unix sockets) */
  cwd?: string
  /** etcdctl flags the health check needs (--cacert, --cert, --key) */
  ctlArgs?: string[]
}

/** Start etcd; with netns+ip it listens there, else on 127.0.0.1 with free ports. */
export async function startEtcd(scope: Scope, opts: EtcdOptions = {}): Promise<Etcd> {
  const ip = opts.ip ?? '127.0.0.1'
  const client = opts.netns ? 2379 : await freePort()
  const peer = opts.netns ? 2380 : await freePort()
  const dir = scope.tmp('etcd')
  const endpoint = `${opts.tls ? 'https' : 'http'}://${ip}:${client}`
  const tls = opts.tls ? ['--cert-file', opts.tls.cert, '--key-file', opts.tls.key] : []
  if (opts.tls?.trustedCa) tls.push('--client-cert-auth', '--trusted-ca-file', opts.tls.trustedCa)
  const argv = [
    'etcd',
    '--name',
    'weft-test',
    '--data-dir',
    dir,
    '--listen-client-urls',
    [endpoint, ...(opts.alsoListen ?? [])].join(','),
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    `http://${ip}:${peer}`,
    '--initial-advertise-peer-urls',
    `http://${ip}:${peer}`,
    '--initial-cluster',
    `weft-test=http://${ip}:${peer}`,
    '--log-level',
    'error',
    ...tls,
    ...(opts.extraArgs ?? []),
  ]
  const spawnOpts = { netns: opts.netns, ...(opts.cwd ? { cwd: opts.cwd } : {}) }
  let proc = scope.spawn(argv, spawnOpts)
  const health = async () => etcdctl(endpoint, [...(opts.ctlArgs ?? []), 'endpoint', 'health'], { netns: opts.netns }).code === 0
  await waitFor('etcd to answer', health, 15000, 100)
  return {
    endpoint,
    dataDir: dir,
    async stop() {
      proc.kill('SIGTERM')
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)))
    },
    async start() {
      proc = scope.spawn(argv, spawnOpts)
      await waitFor('etcd to answer again', health, 15000, 100)
    },
  }
}

export function etcdctl(endpoint: string, args: string[], opts: { netns?: string; input?: string } = {}) {
  const argv = ['etcdctl', '--endpoints', endpoint, ...args]
  return sh(opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv, { input: opts.input, env: { ...process.env, ETCDCTL_API: '3' } })
}

/**
 * etcd's own count of watchers (its /metrics gauge): how a test sees that a daemon's watch is
 * registered in etcd, from outside the daemon. The endpoint must be reachable from the test.
 */
export async function etcdWatchers(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text()
  const m = /^etcd_debugging_mvcc_watcher_total (\d+)$/m.exec(text)
  if (!m) throw new Error(`no etcd_debugging_mvcc_watcher_total in ${endpoint}/metrics`)
  return Number(m[1])
}
