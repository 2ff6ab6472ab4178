import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CompactedError, type EtcdClient, type KV, type WatchEvent } from '../../scripts/lib/registry/etcd/client.ts'
import { PeerRegistry } from '../../scripts/lib/registry/etcd/peers.ts'
import { setLogSink } from '../../scripts/lib/core/log.ts'

const S = '/coreos.com/network/subnets/'
const kv = (subnet: string, rev: number, value = '{}'): KV => ({ key: S + subnet, value, modRevision: rev, createRevision: rev, version: 1, lease: '0' })
const quiet = <T>(fn: () => Promise<T>) => {
  const said: string[] = []
  const restore = setLogSink((line) => void said.push(line))
  return fn()
    .finally(() => setLogSink(restore))
    .then((r) => ({ r, said: said.join('') }))
}

test('apply: events up to the snapshot revision are ignored; one transaction (same revision) applies whole', async () => {
  const client = { list: async () => ({ kvs: [kv('10.244.2.0-24', 5), kv('10.244.3.0-24', 9)], revision: 10 }) } as unknown as EtcdClient
  const reg = new PeerRegistry(client, '/coreos.com/network/')
  assert.equal(reg.subnetsPrefix, S)
  await reg.relist()
  assert.equal(reg.apply({ type: 'DELETE', kv: kv('10.244.2.0-24', 10), revision: 10 }), false)
  assert.equal(reg.apply({ type: 'PUT', kv: kv('10.244.4.0-24', 11), revision: 11 }), true)
  assert.equal(reg.apply({ type: 'PUT', kv: kv('10.244.5.0-24', 11), revision: 11 }), true)
  assert.equal(reg.apply({ type: 'DELETE', kv: kv('10.244.3.0-24', 12), revision: 12 }), true)
  assert.deepEqual([...reg.leases.keys()].sort(), [S + '10.244.2.0-24', S + '10.244.4.0-24', S + '10.244.5.0-24'])
  assert.equal(reg.revision, 12)
})

test('watchLoop: resumes from the last revision + 1 after an error (a re-list is the probe); re-lists after a compaction', async () => {
  const froms: number[] = []
  let lists = 0
  const ac = new AbortController()
  const snapshots = [
    { kvs: [kv('10.244.2.0-24', 5)], revision: 10 },
    { kvs: [kv('10.244.2.0-24', 5), kv('10.244.3.0-24', 11)], revision: 11 },
    { kvs: [kv('10.244.9.0-24', 24)], revision: 25 },
  ]
  const client = {
    list: async () => snapshots[lists++],
    get: async () => undefined,
    watch: async (prefix: string, from: number, on: (e: WatchEvent) => void) => {
      assert.equal(prefix, S)
      froms.push(from)
      if (froms.length === 1) {
        on({ type: 'PUT', kv: kv('10.244.3.0-24', 11), revision: 11 })
        throw new Error('etcd watch: connection lost')
      }
      if (froms.length === 2) throw new CompactedError(20)
      ac.abort()
    },
  } as unknown as EtcdClient
  const reg = new PeerRegistry(client, '/coreos.com/network')
  await reg.relist()
  let changes = 0
  const { said } = await quiet(() => reg.watchLoop(ac.signal, () => changes++))
  assert.deepEqual(froms, [11, 12, 26])
  assert.equal(lists, 3)
  assert.equal(changes, 3) // the PUT, the probe's re-list, then the compaction's
  assert.deepEqual([...reg.leases.keys()], [S + '10.244.9.0-24'])
  assert.match(said, /etcd unreachable \(watch: etcd watch: connection lost\): keeping routes/)
  assert.match(said, /etcd reachable again after \d+ s; resuming the watch from revision 12/)
  assert.match(said, /revision 12 compacted \(now 20\); listing the leases again/)
})

test('etcd wiped (its revision went back): the new list is taken and the watch restarts from it (issue 13 item 9)', async () => {
  let rev = 40
  let kvs = [kv('10.244.2.0-24', 30)]
  const client = { list: async () => ({ kvs, revision: rev }) } as unknown as EtcdClient
  const reg = new PeerRegistry(client, '/coreos.com/network')
  await reg.relist()
  rev = 3
  kvs = [kv('10.244.5.0-24', 3)]
  const { said } = await quiet(() => reg.relist())
  assert.deepEqual([...reg.leases.keys()], [S + '10.244.5.0-24'])
  assert.equal(reg.revision, 3)
  assert.match(said, /etcd's revision went back from 40 to 3 \(its data was wiped or restored\)/)
})

test('etcd wiped and still empty: the peers we knew are kept until a lease appears again', async () => {
  let rev = 40
  let kvs = [kv('10.244.2.0-24', 30), kv('10.244.3.0-24', 31)]
  const client = { list: async () => ({ kvs, revision: rev }) } as unknown as EtcdClient
  const reg = new PeerRegistry(client, '/coreos.com/network')
  await reg.relist()
  rev = 1
  kvs = []
  await quiet(() => reg.relist())
  assert.deepEqual([...reg.leases.keys()], [S + '10.244.2.0-24', S + '10.244.3.0-24'])
  assert.equal(reg.revision, 1)
  rev = 2
  await reg.relist() // still empty: still kept
  assert.equal(reg.leases.size, 2)
  rev = 5
  kvs = [kv('10.244.2.0-24', 4)]
  await reg.relist() // the new cluster has leases: it is the truth again
  assert.deepEqual([...reg.leases.keys()], [S + '10.244.2.0-24'])
})

test('relist: a snapshot older than what the watch delivered meanwhile is not applied', async () => {
  let rev = 10
  let during = () => {}
  const client = { list: async () => (during(), { kvs: [], revision: rev }) } as unknown as EtcdClient
  const reg = new PeerRegistry(client, '/coreos.com/network')
  await reg.relist()
  // the watch delivers revision 15 while the list (answered at 12) is in flight
  during = () => void reg.apply({ type: 'PUT', kv: kv('10.244.3.0-24', 15), revision: 15 })
  rev = 12
  await reg.relist()
  assert.deepEqual([...reg.leases.keys()], [S + '10.244.3.0-24'])
})
