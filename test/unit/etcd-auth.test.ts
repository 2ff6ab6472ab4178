// The etcd token holder (etcd-auth.ts) against a fake etcd, and the etcd flags handed to children.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Auth, AuthError, isInvalidToken, type Post } from '../../scripts/lib/registry/etcd/auth.ts'
import { EtcdError } from '../../scripts/lib/registry/etcd/client.ts'
import { etcdArgs, etcdChildEnv, etcdFromFlags, PASSWORD_ENV } from '../../scripts/lib/registry/etcd/flags.ts'

function fakeEtcd(answer: () => Record<string, unknown>) {
  const bodies: Record<string, unknown>[] = []
  const post: Post = async (path, body) => {
    assert.equal(path, '/v3/auth/authenticate')
    bodies.push(body)
    await null // answer later (a microtask): calls made meanwhile must share this one
    return answer()
  }
  return { post, bodies }
}

test('authenticates once for concurrent calls and sends the token as Authorization', async () => {
  let n = 0
  const f = fakeEtcd(() => ({ token: `tok${++n}` }))
  const a = new Auth({ username: 'flannel', password: 'pw' }, f.post)
  const hs = await Promise.all([a.headers(), a.headers(), a.headers()])
  assert.deepEqual(hs, [{ authorization: 'tok1' }, { authorization: 'tok1' }, { authorization: 'tok1' }])
  assert.deepEqual(f.bodies, [{ name: 'flannel', password: 'pw' }])
})

test('a refused token is forgotten once; a newer one is kept', async () => {
  let n = 0
  const a = new Auth({ username: 'u', password: 'p' }, fakeEtcd(() => ({ token: `tok${++n}` })).post)
  const old = await a.headers()
  a.invalidate(old)
  assert.deepEqual(await a.headers(), { authorization: 'tok2' })
  a.invalidate(old) // a late refusal of tok1 must not throw tok2 away
  assert.deepEqual(await a.headers(), { authorization: 'tok2' })
})

test('wrong credentials: AuthError naming the user and the flags, never the password', async () => {
  const a = new Auth({ username: 'flannel', password: 'hunter2' }, async () => {
    throw new EtcdError('etcd /v3/auth/authenticate: etcdserver: authentication failed, invalid user ID or password', 400, 3)
  })
  await assert.rejects(a.headers(), (e: Error) => {
    assert.ok(e instanceof AuthError)
    assert.equal(
      e.message,
      'etcd authentication as user "flannel" failed: etcdserver: authentication failed, invalid user ID or password (check --etcd-username and --etcd-password)',
    )
    return true
  })
})

test('credentials for an etcd without auth: no token, no error (as clientv3)', async () => {
  const a = new Auth({ username: 'u', password: 'p' }, async () => {
    throw new EtcdError('etcd /v3/auth/authenticate: etcdserver: authentication is not enabled', 400, 9)
  })
  assert.deepEqual(await a.headers(), {})
})

test('isInvalidToken: 401, gRPC 16, a watch canceled as Unauthenticated; not permission denied', () => {
  assert.equal(isInvalidToken(new EtcdError('etcd /v3/kv/range: etcdserver: invalid auth token', 401, 16)), true)
  assert.equal(isInvalidToken(new EtcdError('etcd watch canceled: rpc error: code = Unauthenticated desc = etcdserver: invalid auth token', 200)), true)
  assert.equal(isInvalidToken(new EtcdError('etcd /v3/kv/put: etcdserver: permission denied', 403, 7)), false)
  assert.equal(isInvalidToken(new Error('etcd unreachable')), false)
})

const flags = {
  'etcd-endpoints': 'http://10.0.0.1:2379',
  'etcd-prefix': '/p',
  'etcd-cafile': '',
  'etcd-certfile': '',
  'etcd-keyfile': '',
  'etcd-username': 'flannel',
  'etcd-password': 's3cret',
}

test('etcdArgs: the username on the child argv, the password only in the child environment', () => {
  assert.deepEqual(etcdArgs(flags), ['--etcd-endpoints=http://10.0.0.1:2379', '--etcd-prefix=/p', '--etcd-username=flannel'])
  assert.deepEqual(etcdChildEnv(flags), { [PASSWORD_ENV]: 's3cret' })
  assert.deepEqual(etcdChildEnv({ ...flags, 'etcd-password': '' }), {})
})

test('etcdFromFlags: a password without a username is refused', () => {
  assert.throws(() => etcdFromFlags({ ...flags, 'etcd-username': '' }), /--etcd-password needs --etcd-username/)
})
