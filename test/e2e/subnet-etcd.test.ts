// The etcd client against a real etcd (on 127.0.0.1): kv, leases, txn, watch, compaction, failover.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Scope, waitFor } from '../helpers/scope.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'
import { EtcdClient, CompactedError, type WatchEvent } from '../../scripts/lib/registry/etcd/client.ts'

const scope = new Scope()
let etcd: Etcd
let c: EtcdClient
before(async () => {
  etcd = await startEtcd(scope)
  // A dead endpoint first: every call must fail over to the live one.
  c = new EtcdClient({ endpoints: ['http://127.0.0.1:1', etcd.endpoint], timeoutMs: 2000 })
})
after(async () => {
  c?.close()
  await scope.close()
})

test('put/get/delete, with revisions', async () => {
  const r = await c.put('/t/a', 'héllo')
  assert.ok(r > 0)
  const kv = await c.get('/t/a')
  assert.equal(kv?.value, 'héllo')
  assert.equal(kv?.modRevision, r)
  assert.equal(kv?.version, 1)
  assert.equal(kv?.lease, '0')
  assert.equal(etcdctl(etcd.endpoint, ['get', '--print-value-only', '/t/a']).stdout.trim(), 'héllo')
  await c.delete('/t/a')
  assert.equal(await c.get('/t/a'), undefined)
})

test('list: every key under the prefix and nothing beside it, with the header revision', async () => {
  for (let i = 0; i < 5; i++) await c.put(`/l/sub/${i}`, `v${i}`)
  await c.put('/l/sub0', 'not under')
  await c.put('/l/su', 'not under')
  const { kvs, revision } = await c.list('/l/sub/')
  assert.deepEqual(
    kvs.map((k) => k.key),
    ['/l/sub/0', '/l/sub/1', '/l/sub/2', '/l/sub/3', '/l/sub/4'],
  )
  assert.ok(revision >= kvs[4].modRevision)
})

test('list: more keys than one page (2000) are all read', async () => {
  for (let i = 0; i < 2100; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => c.put(`/big/${String(i + j).padStart(5, '0')}`, 'x')))
  const { kvs } = await c.list('/big/')
  assert.equal(kvs.length, 2100)
  assert.equal(new Set(kvs.map((k) => k.key)).size, 2100)
})

test('leases: grant, attach, timeToLive, revoke removes the key; revoking twice is fine', async () => {
  const id = await c.grant(60)
  assert.match(id, /^\d+$/)
  await c.put('/lease/k', 'v', id)
  assert.equal((await c.get('/lease/k'))?.lease, id)
  const ttl = await c.timeToLive(id)
  assert.ok(ttl > 50 && ttl <= 60, `ttl ${ttl}`)
  await c.revoke(id)
  assert.equal(await c.get('/lease/k'), undefined)
  assert.equal(await c.timeToLive(id), -1)
  await c.revoke(id)
})

test('createIfAbsent: only the first create wins', async () => {
  assert.equal(await c.createIfAbsent('/cas/k', 'one'), true)
  assert.equal(await c.createIfAbsent('/cas/k', 'two'), false)
  assert.equal((await c.get('/cas/k'))?.value, 'one')
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => c.createIfAbsent('/cas/race', `w${i}`)))
  assert.equal(results.filter(Boolean).length, 1)
})

test('watch: PUT and DELETE events from a revision, resolved on abort', async () => {
  const start = await c.put('/w/a', '1')
  await c.put('/w/b', '2')
  await c.delete('/w/a')
  await c.put('/wx', 'outside')
  const seen: WatchEvent[] = []
  const ac = new AbortController()
  const p = c.watch(
    '/w/',
    start,
    (ev) => {
      seen.push(ev)
      // The history is delivered: now a put while the watch runs (a live event).
      if (seen.length === 3) void c.put('/w/c', '3')
      if (seen.length === 4) ac.abort()
    },
    ac.signal,
  )
  await p
  assert.deepEqual(
    seen.map((e) => [e.type, e.kv.key, e.kv.value]),
    [
      ['PUT', '/w/a', '1'],
      ['PUT', '/w/b', '2'],
      ['DELETE', '/w/a', ''],
      ['PUT', '/w/c', '3'],
    ],
  )
  assert.equal(seen[0].revision, start)
  assert.ok(seen[3].revision > seen[2].revision)
})

test('watch: a compacted start revision rejects with CompactedError', async () => {
  const r1 = await c.put('/cw/a', '1')
  const r2 = await c.put('/cw/a', '2')
  const res = etcdctl(etcd.endpoint, ['compact', String(r2)])
  assert.equal(res.code, 0, res.stderr)
  const ac = new AbortController()
  await assert.rejects(
    c.watch('/cw/', r1, () => {}, ac.signal),
    (e: unknown) => e instanceof CompactedError && e.compactRevision === r2,
  )
})

test('watch: etcd going away rejects with an Error; after a restart the client works again', async () => {
  const rev = (await c.list('/gone/')).revision
  const ac = new AbortController()
  const seen: string[] = []
  const p = assert.rejects(
    c.watch('/gone/', rev + 1, (ev) => seen.push(ev.kv.key), ac.signal),
    /etcd watch/,
  )
  // The watch is live (it delivered a put made after it started) before etcd goes away.
  await c.put('/gone/ready', 'v')
  await waitFor('the watch to deliver /gone/ready', () => seen.includes('/gone/ready'), 5000)
  await etcd.stop()
  await p
  await assert.rejects(c.get('/x'), /etcd unreachable/)
  await etcd.start()
  await c.put('/gone/k', 'v')
  assert.equal((await c.get('/gone/k'))?.value, 'v')
})
