// Getting this node's subnet lease the way flannel's etcd subnet manager does (tryAcquireLease):
// reuse the lease that carries our PublicIP if it still fits the config, else the subnet named in
// the old subnet.env if nobody holds it, else a random one among the first 100 free subnets.
// The create is a compare-and-set (txn: version(key)==0), so two nodes never share a subnet.
// Where flannel exits on a lost race, we take another subnet and try again.
import { leaseKey, leaseValue, parseLease, parseLeaseKey, subnetsPrefix, type Lease, type LeaseAttrs } from './lease.ts'
import { makeCidr, overlaps, sameCidr, type Cidr } from './cidr.ts'
import type { NetworkConfig } from './netconfig.ts'
import type { KV } from './etcd.ts'

/** flannel's subnetTTL */
export const LEASE_TTL = 86400

/** The registry operations acquisition needs (an EtcdClient, or a dry-run stand-in). */
export interface Registry {
  list(prefix: string): Promise<{ kvs: KV[]; revision: number }>
  put(key: string, value: string, lease?: string): Promise<number>
  delete(key: string): Promise<void>
  grant(ttlSeconds: number): Promise<string>
  revoke(id: string): Promise<void>
  createIfAbsent(key: string, value: string, lease?: string): Promise<boolean>
}

export interface Acquired {
  subnet: Cidr
  key: string
  value: string
  etcdLease: string
  /** ms since the epoch */
  expiresAt: number
  how: 'reused' | 'previous' | 'allocated'
}

/** flannel's isSubnetConfigCompat: the right length, between SubnetMin and SubnetMax. */
export function fitsConfig(cfg: NetworkConfig, sn: Cidr): boolean {
  if (!cfg.subnetMin || !cfg.subnetMax || sn.family !== 4) return false
  return sn.prefix === cfg.subnetLen && sn.net >= cfg.subnetMin.net && sn.net <= cfg.subnetMax.net
}

/** Up to `limit` subnets from SubnetMin to SubnetMax that overlap nothing taken (flannel's bag of 100). */
export function freeSubnets(cfg: NetworkConfig, taken: readonly Cidr[], limit = 100): Cidr[] {
  const out: Cidr[] = []
  if (!cfg.subnetMin || !cfg.subnetMax) return out
  const step = 1n << BigInt(32 - cfg.subnetLen)
  // Thousands of leases: look same-size ones up in a set; only odd-sized ones need an overlap test.
  const same = new Set<bigint>()
  const odd: Cidr[] = []
  for (const t of taken) {
    if (t.family !== 4) continue
    if (t.prefix === cfg.subnetLen) same.add(t.net)
    else odd.push(t)
  }
  for (let a = cfg.subnetMin.net; a <= cfg.subnetMax.net && out.length < limit; a += step) {
    if (same.has(a)) continue
    const sn = makeCidr(4, a, cfg.subnetLen)
    if (!odd.some((t) => overlaps(t, sn))) out.push(sn)
  }
  return out
}

/** What the registry holds: every subnet named by a key (taken, even if its value is bad), and the readable leases. */
export function readRegistry(prefix: string, kvs: readonly KV[], warn: (m: string) => void): { taken: Cidr[]; leases: Lease[] } {
  const taken: Cidr[] = []
  const leases: Lease[] = []
  for (const kv of kvs) {
    try {
      taken.push(parseLeaseKey(prefix, kv.key).subnet)
      leases.push(parseLease(prefix, kv))
    } catch (e) {
      warn(`skipping unreadable lease: ${(e as Error).message}`)
    }
  }
  return { taken, leases }
}

export interface AcquireOpts {
  prefix: string
  cfg: NetworkConfig
  attrs: LeaseAttrs
  /** FLANNEL_SUBNET of the old subnet.env, as a network */
  previous?: Cidr
  ttl?: number
  log: (m: string) => void
  random?: () => number
  /** how many lost races to retry before giving up */
  attempts?: number
}

export async function acquireLease(reg: Registry, o: AcquireOpts): Promise<Acquired> {
  const ttl = o.ttl ?? LEASE_TTL
  const value = leaseValue(o.attrs)
  const random = o.random ?? Math.random
  const lost: Cidr[] = []
  for (let attempt = 0; attempt < (o.attempts ?? 20); attempt++) {
    const { kvs } = await reg.list(subnetsPrefix(o.prefix))
    const { taken, leases } = readRegistry(o.prefix, kvs, (m) => o.log(`warning: ${m}`))

    const ours = leases.find((l) => l.publicIp.value === o.attrs.publicIp.value)
    if (ours) {
      if (fitsConfig(o.cfg, ours.subnet) && !ours.ipv6Subnet) {
        o.log(`Found lease (ip: ${ours.subnet.text}) for current IP (${o.attrs.publicIp.text}), reusing`)
        const id = await reg.grant(ttl)
        await reg.put(ours.key, value, id)
        // The old etcd lease no longer holds the key; drop it rather than let it linger a day.
        if (ours.etcdLease !== '0' && ours.etcdLease !== id) await reg.revoke(ours.etcdLease).catch(() => {})
        return { subnet: ours.subnet, key: ours.key, value, etcdLease: id, expiresAt: Date.now() + ttl * 1000, how: 'reused' }
      }
      o.log(`Found lease (${ours.subnet.text}) for current IP (${o.attrs.publicIp.text}) but not compatible with current config, deleting`)
      await reg.delete(ours.key)
      const i = taken.findIndex((t) => sameCidr(t, ours.subnet))
      if (i >= 0) taken.splice(i, 1)
    }

    let sn: Cidr | undefined
    let how: Acquired['how'] = 'allocated'
    const prev = o.previous
    if (prev && !lost.some((l) => sameCidr(l, prev))) {
      if (taken.some((t) => overlaps(t, prev))) o.log(`Found previously leased subnet (${prev.text}) that is already leased by another host, ignoring`)
      else if (!fitsConfig(o.cfg, prev)) o.log(`Found previously leased subnet (${prev.text}) that is not compatible with the Etcd network config, ignoring`)
      else {
        o.log(`Found previously leased subnet (${prev.text}), reusing`)
        sn = prev
        how = 'previous'
      }
    }
    if (!sn) {
      const bag = freeSubnets(o.cfg, [...taken, ...lost])
      if (!bag.length) throw new Error(`out of subnets: every subnet from ${o.cfg.subnetMin?.text} to ${o.cfg.subnetMax?.text} is leased`)
      sn = bag[Math.floor(random() * bag.length)]
    }

    const key = leaseKey(o.prefix, sn)
    const id = await reg.grant(ttl)
    if (await reg.createIfAbsent(key, value, id)) {
      o.log(`Allocated lease (ip: ${sn.text}) to current node (${o.attrs.publicIp.text})`)
      return { subnet: sn, key, value, etcdLease: id, expiresAt: Date.now() + ttl * 1000, how }
    }
    await reg.revoke(id).catch(() => {})
    o.log(`subnet ${sn.text} was taken by another node meanwhile; trying another`)
    lost.push(sn)
  }
  throw new Error('gave up acquiring a subnet: lost the race too many times')
}
