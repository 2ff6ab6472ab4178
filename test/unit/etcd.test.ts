import { test } from 'node:test'
import assert from 'node:assert/strict'
import { prefixEnd, EtcdClient } from '../../scripts/lib/registry/etcd/client.ts'

const dec = (s: string) => Buffer.from(s, 'base64').toString('latin1')

test('prefixEnd: last byte + 1', () => {
  assert.equal(dec(prefixEnd('/coreos.com/network/subnets/')), '/coreos.com/network/subnets0')
  assert.equal(dec(prefixEnd('a')), 'b')
})

test('endpoints: http(s) URLs, host:port without a scheme, unix:// (issue 13 item 10); others refused', () => {
  assert.deepEqual(new EtcdClient({ endpoints: ['127.0.0.1:2379', 'unix:///run/etcd.sock'] }).endpoints, ['http://127.0.0.1:2379', 'unix:///run/etcd.sock'])
  assert.throws(() => new EtcdClient({ endpoints: ['ftp://127.0.0.1:2379'] }), /want http:\/\/, https:\/\/, unix:\/\/, unixs:\/\/ or host:port/)
  assert.throws(() => new EtcdClient({ endpoints: ['http://[nope'] }), /not a URL/)
  assert.throws(() => new EtcdClient({ endpoints: [] }), /no etcd endpoints/)
})

test('an unreachable endpoint list rejects naming every endpoint', async () => {
  const c = new EtcdClient({ endpoints: ['http://127.0.0.1:1', 'http://127.0.0.1:2'], timeoutMs: 1000 })
  await assert.rejects(c.get('/x'), /etcd unreachable \(http:\/\/127.0.0.1:1: .*; http:\/\/127.0.0.1:2: /)
})
