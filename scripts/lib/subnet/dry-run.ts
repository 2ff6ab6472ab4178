// --dry-run for the subnet writer: reads go to etcd, every write is printed as the etcdctl
// command an operator could run instead, and nothing is changed.
import { cmdline } from '../core/sh.ts'
import type { EtcdClient, KV } from '../registry/etcd/client.ts'
import type { Registry } from '../registry/etcd/lease-acquire.ts'

export const DRY_LEASE = '<new-lease>'

export class DryRunRegistry implements Registry {
  constructor(
    private readonly etcd: EtcdClient,
    private readonly out: (line: string) => void = (l) => process.stdout.write(l),
  ) {}

  list(prefix: string): Promise<{ kvs: KV[]; revision: number }> {
    return this.etcd.list(prefix)
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    this.out(cmdline(['etcdctl', 'put', ...leaseArg(lease), key, value]) + '\n')
    return 0
  }

  async delete(key: string): Promise<void> {
    this.out(cmdline(['etcdctl', 'del', key]) + '\n')
  }

  async grant(ttlSeconds: number): Promise<string> {
    this.out(`etcdctl lease grant ${ttlSeconds}   # -> ${DRY_LEASE}\n`)
    return DRY_LEASE
  }

  async revoke(id: string): Promise<void> {
    this.out(cmdline(['etcdctl', 'lease', 'revoke', hex(id)]) + '\n')
  }

  /** Printed as etcdctl's interactive txn (compares, blank line, success ops, blank line; Go-quoted words). */
  async createIfAbsent(key: string, value: string, lease?: string): Promise<boolean> {
    const put = ['put', ...leaseArg(lease), JSON.stringify(key), JSON.stringify(value)].join(' ')
    this.out(`etcdctl txn <<'EOF'\nversion(${JSON.stringify(key)}) = "0"\n\n${put}\n\nEOF\n`)
    return true
  }
}

// etcdctl names leases in hex; ours are decimal (as the JSON API gives them).
function hex(id: string): string {
  return /^\d+$/.test(id) ? BigInt(id).toString(16) : id
}

function leaseArg(lease?: string): string[] {
  return lease && lease !== '0' ? [`--lease=${hex(lease)}`] : []
}
