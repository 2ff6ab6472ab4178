// The etcd client and the writer over TLS with client certificates (--etcd-cafile/certfile/keyfile),
// against a real etcd on 127.0.0.1 that requires them.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, sh, dist } from '../helpers/scope.ts'
import { etcdctl, startEtcd } from '../helpers/etcd.ts'
import { makeCa, makeLeaf } from '../helpers/kube-pki.ts'
import { EtcdClient } from '../../scripts/lib/registry/etcd/client.ts'

const scope = new Scope()
let endpoint = ''
let dir = ''
const f = (n: string) => join(dir, n)

before(async () => {
  dir = scope.tmp('etcd-tls')
  const ca = makeCa(dir, 'ca')
  makeLeaf(ca, 'server', { ips: ['127.0.0.1'], alsoClient: true })
  makeLeaf(ca, 'client', { user: 'weft-node' })
  const ctlArgs = ['--cacert', f('ca.crt'), '--cert', f('client.crt'), '--key', f('client.key')]
  endpoint = (await startEtcd(scope, { tls: { cert: f('server.crt'), key: f('server.key'), trustedCa: f('ca.crt') }, ctlArgs })).endpoint
  assert.equal(etcdctl(endpoint, [...ctlArgs, 'put', '/tls/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}']).code, 0)
})
after(async () => {
  await scope.close()
})

test('client certificates: put, get, list, watch; a dead endpoint first is skipped', async () => {
  const c = new EtcdClient({ endpoints: ['https://127.0.0.1:1', endpoint], cafile: f('ca.crt'), certfile: f('client.crt'), keyfile: f('client.key') })
  try {
    const rev = await c.put('/tls/k', 'v')
    assert.equal((await c.get('/tls/k'))?.value, 'v')
    assert.equal((await c.list('/tls/')).kvs.length, 2)
    const ac = new AbortController()
    const seen: string[] = []
    await c.watch('/tls/k', rev, (ev) => (seen.push(ev.kv.value), ac.abort()), ac.signal)
    assert.deepEqual(seen, ['v'])
  } finally {
    c.close()
  }
})

test('without a client certificate etcd refuses, and the error says so', async () => {
  const c = new EtcdClient({ endpoints: [endpoint], cafile: f('ca.crt'), timeoutMs: 3000 })
  await assert.rejects(c.get('/tls/k'), /etcd unreachable|certificate|handshake|socket hang up|ECONNRESET/)
  c.close()
})

test('without the CA the server certificate is not trusted', async () => {
  const c = new EtcdClient({ endpoints: [endpoint], certfile: f('client.crt'), keyfile: f('client.key'), timeoutMs: 3000 })
  await assert.rejects(c.get('/tls/k'), /self.signed|unable to verify|certificate/)
  c.close()
})

test('the writer with --etcd-cafile/--etcd-certfile/--etcd-keyfile', () => {
  const file = join(dir, 'subnet.env')
  const r = sh([
    'node',
    dist('weft-subnet'),
    `--etcd-endpoints=${endpoint}`,
    '--etcd-prefix=/tls/network',
    `--etcd-cafile=${f('ca.crt')}`,
    `--etcd-certfile=${f('client.crt')}`,
    `--etcd-keyfile=${f('client.key')}`,
    '--public-ip=192.168.70.1',
    '--mtu=1500',
    `--subnet-file=${file}`,
    '--once',
  ])
  assert.equal(r.code, 0, r.stderr)
  assert.match(readFileSync(file, 'utf8'), /^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n$/)
})
