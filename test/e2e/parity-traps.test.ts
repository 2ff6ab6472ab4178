// flannel's parity traps (issue 13 items 10-12) against the bundles and a real etcd: endpoints
// written as flannel's users write them, a reservation kept a reservation, a stray positional.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, dist } from '../helpers/scope.ts'
import { etcdctl, freePort, startEtcd } from '../helpers/etcd.ts'

const scope = new Scope()
let endpoint = ''
let sock = ''
before(async () => {
  // etcd on 127.0.0.1 and on a unix socket at once
  const unixPort = await freePort()
  const dir = scope.tmp('etcd-cwd')
  // etcd 3.4 names its socket file "localhost:<port>" in its working directory
  sock = join(dir, `localhost:${unixPort}`)
  endpoint = (await startEtcd(scope, { alsoListen: [`unix://localhost:${unixPort}`], cwd: dir })).endpoint
})
after(() => scope.close())

let n = 0
function prefix(): string {
  const p = `/weft-parity-${process.pid}-${n++}/network`
  assert.equal(etcdctl(endpoint, ['put', `${p}/config`, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}']).code, 0)
  return p
}

async function writeOnce(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; file: string }> {
  const file = join(scope.tmp(), 'subnet.env')
  const p = scope.spawn(['node', dist('weft-subnet'), '--public-ip=192.168.77.1', '--mtu=1500', `--subnet-file=${file}`, '--once', ...args])
  let stdout = ''
  let stderr = ''
  p.stdout!.on('data', (d) => (stdout += d))
  p.stderr!.on('data', (d) => (stderr += d))
  const code = await new Promise<number | null>((r) => p.once('exit', r))
  return { code, stdout, stderr, file }
}

for (const [what, ep] of [
  ['host:port without a scheme', () => endpoint.replace('http://', '')],
  ['unix:// socket', () => `unix://${sock}`],
] as const) {
  test(`--etcd-endpoints as ${what} is accepted (flannel's Go client takes it)`, { timeout: 30000 }, async () => {
    const p = prefix()
    const r = await writeOnce([`--etcd-endpoints=${ep()}`, `--etcd-prefix=${p}`])
    assert.equal(r.code, 0, r.stderr)
    assert.match(readFileSync(r.file, 'utf8'), /^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\n/)
  })
}

test('--etcd-endpoints with another scheme: one line, exit 1, not a restart loop of retries', async () => {
  const r = await writeOnce(['--etcd-endpoints=ftp://127.0.0.1:1', `--etcd-prefix=${prefix()}`])
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /invalid etcd endpoint "ftp:\/\/127\.0\.0\.1:1"/)
})

test('a reservation (subnet key without a TTL for our public IP) is kept a reservation, not turned into a lease', { timeout: 30000 }, async () => {
  const p = prefix()
  const key = `${p}/subnets/10.244.42.0-24`
  assert.equal(etcdctl(endpoint, ['put', key, '{"PublicIP":"192.168.77.1","BackendType":"host-gw"}']).code, 0)
  const r = await writeOnce([`--etcd-endpoints=${endpoint}`, `--etcd-prefix=${p}`])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /Found reservation \(ip: 10\.244\.42\.0\/24\) for current IP \(192\.168\.77\.1\), keeping it a reservation/)
  assert.match(readFileSync(r.file, 'utf8'), /^FLANNEL_SUBNET=10\.244\.42\.1\/24$/m)
  const kv = JSON.parse(etcdctl(endpoint, ['get', key, '-w', 'json']).stdout).kvs[0]
  assert.equal(kv.lease, undefined, 'the key got an etcd lease')
})

for (const bundle of ['flanneld', 'weft-subnet', 'weft-masq']) {
  test(`${bundle} --ip-masq false: a usage error saying why (Go would take --ip-masq=true and drop the rest)`, () => {
    // In a throwaway namespace, with a deadline and its own paths: where the argument is not
    // refused, the daemon would otherwise start for real.
    const ns = scope.ns('pt')
    const file = join(scope.tmp(), 'subnet.env')
    const r = spawnSync(
      'ip',
      ['netns', 'exec', ns, 'node', dist(bundle), '--ip-masq', 'false', '--iptables-resync=5', `--subnet-file=${file}`, '--etcd-endpoints=http://127.0.0.1:9'],
      { encoding: 'utf8', timeout: 15000, killSignal: 'SIGKILL' },
    )
    assert.equal(r.status, 2, r.stderr)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(
      r.stderr,
      /unexpected argument "false": no positional arguments are taken \(flannel's Go flag parsing stops at one and silently ignores every flag after it\); a boolean flag takes its value after '=': --ip-masq=false/,
    )
  })
}
