// Telling a wiped etcd from a revoked lease by history (issue 13's narrow race): what one read of
// our key at the revision we last saw it says.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { historyLost } from '../../scripts/lib/subnet/renew.ts'
import { EtcdError, type KV } from '../../scripts/lib/registry/etcd/client.ts'

const kv = (createRevision: number): KV => ({ key: '/k', value: 'v', modRevision: createRevision, createRevision, version: 1, lease: '0' })
const at = (answer: KV | undefined | Error) => ({
  get: async (_k: string, rev?: number) => {
    assert.equal(rev, 40)
    if (answer instanceof Error) throw answer
    return answer
  },
})
const known = { rev: 40, create: 7 }

test('our key at our revision, as created: deleted in the cluster we knew (a revoke)', async () => {
  assert.equal(await historyLost(at(kv(7)), '/k', known), false)
})

test('no key, another key by that name, or a revision in its future: a new cluster (a wipe)', async () => {
  assert.equal(await historyLost(at(undefined), '/k', known), true)
  assert.equal(await historyLost(at(kv(12)), '/k', known), true)
  assert.equal(await historyLost(at(new EtcdError('etcd /v3/kv/range: etcdserver: mvcc: required revision is a future revision', 400, 11)), '/k', known), true)
})

test('compacted, unreachable, or nothing known: cannot tell, so a revoke as before', async () => {
  assert.equal(await historyLost(at(new EtcdError('etcd /v3/kv/range: etcdserver: mvcc: required revision has been compacted', 400, 11)), '/k', known), false)
  assert.equal(await historyLost(at(new Error('connect ECONNREFUSED')), '/k', known), false)
  assert.equal(await historyLost(at(kv(7)), '/k', undefined), false)
})
