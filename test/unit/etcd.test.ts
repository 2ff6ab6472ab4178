import { test } from 'node:test'
import assert from 'node:assert/strict'
import { prefixEnd, EtcdClient } from '../../scripts/lib/registry/etcd/client.ts'

const dec = (s: string) => Buffer.from(s, 'base64').toString('latin1')

test('prefixEnd: last byte + 1', () => {
  assert.equal(dec(prefixEnd('/coreos.com/network/subnets/')), '/coreos.com/network/subnets0')
  assert.equal(dec(prefixEnd('a')), 'b')
})

test('endpoints must be http(s) URLs', () => {
  assert.throws(() => new EtcdClient({ endpoints: ['127.0.0.1:2379'] }), /want http:\/\/ or https:\/\/|not a URL/)
  assert.throws(() => new EtcdClient({ endpoints: ['nope'] }), /not a URL/)
  assert.throws(() => new EtcdClient({ endpoints: [] }), /no etcd endpoints/)
})

test('an unreachable endpoint list rejects naming every endpoint', async () => {
  const c = new EtcdClient({ endpoints: ['http://127.0.0.1:1', 'http://127.0.0.1:2'], timeoutMs: 1000 })
  await assert.rejects(c.get('/x'), /etcd unreachable \(http:\/\/127.0.0.1:1: .*; http:\/\/127.0.0.1:2: /)
})
