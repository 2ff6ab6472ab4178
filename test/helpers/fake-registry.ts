// FAKE: an in-memory stand-in for the etcd registry, for unit tests of the pure lease-acquisition
// logic (which subnet, which operations, in what order). The real etcd is exercised by
// test/e2e/subnet-*.test.ts, ipv6-etcd.test.ts and the lab. `steal` lets "another node" create a
// key just before our compare-and-set, to force a lost race.
import type { Registry } from '../../scripts/lib/registry/etcd/lease-acquire.ts'
import type { KV } from '../../scripts/lib/registry/etcd/client.ts'

export class FakeRegistry implements Registry {
  kv = new Map<string, { value: string; lease: string }>()
  ops: string[] = []
  next = 100
  steal?: (key: string) => { value: string } | undefined
  async list(prefix: string) {
    const kvs: KV[] = [...this.kv]
      .filter(([k]) => k.startsWith(prefix))
      .sort()
      .map(([key, v]) => ({ key, value: v.value, lease: v.lease, modRevision: 1, createRevision: 1, version: 1 }))
    return { kvs, revision: 1 }
  }
  async put(key: string, value: string, lease = '0') {
    this.ops.push(`put ${key} ${lease}`)
    this.kv.set(key, { value, lease })
    return 1
  }
  async delete(key: string) {
    this.ops.push(`del ${key}`)
    this.kv.delete(key)
  }
  async grant() {
    const id = String(this.next++)
    this.ops.push(`grant ${id}`)
    return id
  }
  async revoke(id: string) {
    this.ops.push(`revoke ${id}`)
  }
  async createIfAbsent(key: string, value: string, lease = '0') {
    const thief = this.steal?.(key)
    if (thief) this.kv.set(key, { value: thief.value, lease: '1' })
    this.ops.push(`txn ${key}`)
    if (this.kv.has(key)) return false
    this.kv.set(key, { value, lease })
    return true
  }
}
