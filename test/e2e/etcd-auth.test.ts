// etcd with authentication enabled (--etcd-username/--etcd-password): the client's token, its
// renewal when etcd forgets it (--auth-token-ttl=2), clear errors, weft-subnet against it, and
// flanneld handing the password to its parts through the environment, never their argv.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, inNs, dist, waitFor, sh } from '../helpers/scope.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'
import { makeCa, makeLeaf } from '../helpers/kube-pki.ts'
import { EtcdClient, AuthError, EtcdError } from '../../scripts/lib/registry/etcd/client.ts'

const scope = new Scope()
let etcd: Etcd
const PW = 'Pw-s3cret-42'
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'

/** root:rootpw (root role), flannel:PW with readwrite on /coreos.com/network, auth on, a config. */
function enableAuth(endpoint: string, netns?: string): void {
  const ctl = (args: string[]) => {
    const r = etcdctl(endpoint, args, { netns })
    assert.equal(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`)
  }
  ctl(['user', 'add', 'root:rootpw'])
  ctl(['user', 'grant-role', 'root', 'root'])
  ctl(['role', 'add', 'flannel'])
  ctl(['role', 'grant-permission', 'flannel', '--prefix=true', 'readwrite', '/coreos.com/network'])
  ctl(['user', 'add', `flannel:${PW}`])
  ctl(['user', 'grant-role', 'flannel', 'flannel'])
  ctl(['auth', 'enable'])
  ctl(['--user', 'root:rootpw', 'put', '/coreos.com/network/config', CONFIG])
}

before(async () => {
  etcd = await startEtcd(scope, { extraArgs: ['--auth-token-ttl', '2'] })
  enableAuth(etcd.endpoint)
})
after(() => scope.close())

const client = (password = PW) => new EtcdClient({ endpoints: [etcd.endpoint], username: 'flannel', password })

/**
 * Waits until etcd has expired every token last used before this call. etcd renews a simple token's
 * TTL on each use, so one token polled would never expire: instead a handful is taken now, and each
 * look spends a fresh one. The first refused (401) was issued after the tokens we wait on were last
 * used, with the same TTL: they are gone too.
 */
async function untilTokensExpired(): Promise<void> {
  const auth = () =>
    fetch(`${etcd.endpoint}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name: 'flannel', password: PW }) }).then(async (r) => (await r.json()).token as string)
  const probes = await Promise.all(Array.from({ length: 14 }, auth))
  await waitFor(
    'tokens issued now to expire in etcd (--auth-token-ttl=2)',
    async () => {
      const token = probes.shift()
      if (!token) throw new Error('out of probe tokens')
      const r = await fetch(`${etcd.endpoint}/v3/kv/range`, { method: 'POST', body: '{"key":"eA=="}', headers: { authorization: token } })
      return r.status === 401
    },
    6500,
    500,
  )
}

test('with a username and password: get, put, list, txn, lease calls and watch work', async () => {
  const c = client()
  try {
    assert.equal((await c.get('/coreos.com/network/config'))?.value, CONFIG)
    const rev = await c.put('/coreos.com/network/t/a', '1')
    assert.equal(await c.createIfAbsent('/coreos.com/network/t/b', '2'), true)
    assert.equal(await c.createIfAbsent('/coreos.com/network/t/b', '3'), false)
    assert.deepEqual(
      (await c.list('/coreos.com/network/t/')).kvs.map((kv) => kv.value),
      ['1', '2'],
    )
    const id = await c.grant(60)
    assert.ok((await c.timeToLive(id)) > 50)
    await c.revoke(id)
    const ac = new AbortController()
    const seen: string[] = []
    await c.watch('/coreos.com/network/t/', rev, (ev) => (seen.push(ev.kv.value), seen.length === 2 && ac.abort()), ac.signal)
    assert.deepEqual(seen, ['1', '2'])
  } finally {
    c.close()
  }
})

test('a wrong password: one clear AuthError, quickly, without the password in it', async () => {
  const c = client('wrong-pw')
  const t0 = Date.now()
  await assert.rejects(c.get('/coreos.com/network/config'), (e: Error) => {
    assert.ok(e instanceof AuthError)
    assert.match(
      e.message,
      /etcd authentication as user "flannel" failed: etcdserver: authentication failed, invalid user ID or password \(check --etcd-username and --etcd-password\)/,
    )
    assert.doesNotMatch(e.message, /wrong-pw/)
    return true
  })
  assert.ok(Date.now() - t0 < 3000)
  c.close()
})

test('no credentials against an etcd with auth: the message names the flags', async () => {
  const c = new EtcdClient({ endpoints: [etcd.endpoint] })
  await assert.rejects(c.get('/coreos.com/network/config'), /user name is empty: etcd has authentication enabled; give --etcd-username and --etcd-password/)
  c.close()
})

test('a key outside the granted prefix: permission denied, not retried as an auth problem', async () => {
  const c = client()
  await assert.rejects(c.put('/elsewhere', 'x'), (e: Error) => e instanceof EtcdError && /permission denied/.test(e.message))
  c.close()
})

test('a token etcd has expired (--auth-token-ttl=2) is renewed transparently, for calls and watches', async () => {
  const c = client()
  try {
    await c.put('/coreos.com/network/t/x', 'before')
    // The client's token is refused now (etcd says so for a token issued after it), yet it copes.
    await untilTokensExpired()
    assert.equal((await c.get('/coreos.com/network/t/x'))?.value, 'before')
    await untilTokensExpired()
    const rev = await (async () => {
      const other = client()
      try {
        return await other.put('/coreos.com/network/t/x', 'after')
      } finally {
        other.close()
      }
    })()
    const ac = new AbortController()
    const seen: string[] = []
    await c.watch('/coreos.com/network/t/x', rev, (ev) => (seen.push(ev.kv.value), ac.abort()), ac.signal)
    assert.deepEqual(seen, ['after'])
  } finally {
    c.close()
  }
})

test('over TLS (https, --etcd-cafile): the token travels the same way', async () => {
  const dir = scope.tmp('etcd-auth-tls')
  const f = (n: string) => join(dir, n)
  makeLeaf(makeCa(dir, 'ca'), 's', { ips: ['127.0.0.1'], alsoClient: true })
  const { endpoint } = await startEtcd(scope, { tls: { cert: f('s.crt'), key: f('s.key') }, ctlArgs: ['--cacert', f('ca.crt')] })
  for (const a of [
    ['user', 'add', 'root:rootpw'],
    ['user', 'grant-role', 'root', 'root'],
    ['auth', 'enable'],
  ])
    assert.equal(etcdctl(endpoint, ['--cacert', f('ca.crt'), ...a]).code, 0)
  const c = new EtcdClient({ endpoints: [endpoint], cafile: f('ca.crt'), username: 'root', password: 'rootpw' })
  try {
    await c.put('/k', 'tls')
    assert.equal((await c.get('/k'))?.value, 'tls')
  } finally {
    c.close()
  }
  const bad = new EtcdClient({ endpoints: [endpoint], cafile: f('ca.crt'), username: 'root', password: 'nope' })
  await assert.rejects(bad.get('/k'), AuthError)
  bad.close()
})

test('dist/weft-subnet with --etcd-username/--etcd-password (and the password from FLANNELD_ETCD_PASSWORD) writes subnet.env', () => {
  const tmp = scope.tmp()
  const base = [process.execPath, dist('weft-subnet'), `--etcd-endpoints=${etcd.endpoint}`, '--etcd-username=flannel', '--public-ip=192.0.2.10', '--mtu=1500', '--once']
  const r = sh([...base, `--etcd-password=${PW}`, `--subnet-file=${tmp}/a.env`])
  assert.equal(r.code, 0, r.stderr)
  assert.match(readFileSync(`${tmp}/a.env`, 'utf8'), /^FLANNEL_SUBNET=10\.244\.\d+\.1\/24$/m)
  assert.doesNotMatch(r.stderr, new RegExp(PW))
  const e = sh([...base, '--public-ip=192.0.2.11', `--subnet-file=${tmp}/b.env`], { env: { ...process.env, FLANNELD_ETCD_PASSWORD: PW } })
  assert.equal(e.code, 0, e.stderr)
  assert.ok(existsSync(`${tmp}/b.env`))
})

test('flanneld passes the password to its parts in their environment, never in their argv', async () => {
  const ns = scope.ns('ea')
  const peer = scope.ns('ea')
  const local = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  enableAuth(local.endpoint, ns)
  inNs(ns, ['ip', 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'p0', 'netns', peer])
  inNs(ns, ['ip', 'addr', 'add', '198.51.100.7/24', 'dev', 'ext0'])
  inNs(ns, ['ip', 'link', 'set', 'ext0', 'up'])
  const tmp = scope.tmp()
  const p = scope.spawn(
    [
      process.execPath,
      dist('flanneld'),
      '--iface=ext0',
      `--etcd-endpoints=${local.endpoint}`,
      '--etcd-username=flannel',
      `--etcd-password=${PW}`,
      `--subnet-file=${tmp}/subnet.env`,
      '--iptables-forward-rules=false',
    ],
    { netns: ns },
  )
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('subnet.env', () => existsSync(`${tmp}/subnet.env`), 20000)
  const children = await waitFor(
    'weft-subnet and weft-routes',
    () => {
      const kids = readdirSync('/proc').filter((d) => /^\d+$/.test(d) && ppid(d) === p.pid)
      return kids.length >= 2 && kids
    },
    10000,
  )
  for (const pid of children) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    assert.ok(
      argv.some((a) => /weft-(subnet|routes)$/.test(a)),
      argv.join(' '),
    )
    assert.ok(argv.includes('--etcd-username=flannel'))
    assert.ok(!argv.some((a) => a.includes(PW)), `password in argv of ${argv.join(' ')}`)
    assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`FLANNELD_ETCD_PASSWORD=${PW}`))
  }
  assert.match(readFileSync(`${tmp}/subnet.env`, 'utf8'), /^FLANNEL_NETWORK=10\.244\.0\.0\/16$/m)
  assert.doesNotMatch(log, new RegExp(PW))
  assert.doesNotMatch(log, /not supported|authentication failed|user name is empty|invalid auth token/)
})

function ppid(pid: string): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])
  } catch {
    return undefined
  }
}
