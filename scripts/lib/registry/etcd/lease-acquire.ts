// Getting this node's subnet lease the way flannel's etcd subnet manager does (tryAcquireLease):
// reuse the lease that carries our PublicIP if it still fits the config, else the subnet named in
// the old subnet.env if nobody holds it, else a random one among the first 100 free subnets.
// The create is a compare-and-set (txn: version(key)==0), so two nodes never share a subnet.
// Where flannel exits on a lost race, we take another subnet and try again.
// Dual stack (EnableIPv6): the key names both subnets (10.5.52.0-24&fc00::-64); the v6 subnet is
// reused with the lease, taken from the old subnet.env, or picked among free ones on its own.
import { leaseKey, leaseValue, parseLease, parseLeaseKey, subnetsPrefix, type Lease, type LeaseAttrs } from '../../formats/lease.ts'
import { bits, makeCidr, overlaps, sameCidr, type Cidr, type Family } from '../../net/cidr.ts'
import type { NetworkConfig } from '../../formats/net-conf.ts'
import type { KV } from './client.ts'

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
  /** with EnableIPv6 */
  ipv6Subnet?: Cidr
  key: string
  value: string
  etcdLease: string
  /** ms since the epoch */
  expiresAt: number
  how: 'reused' | 'previous' | 'allocated' | 'reserved'
}

/** A reservation (a subnet key an operator wrote without an etcd lease) never expires nor renews. */
export function isReservation(a: Pick<Acquired, 'etcdLease'>): boolean {
  return a.etcdLease === '0'
}

/** flannel's isSubnetConfigCompat: the right length, between SubnetMin and SubnetMax. */
export function fitsConfig(cfg: NetworkConfig, sn: Cidr): boolean {
  if (!cfg.subnetMin || !cfg.subnetMax || sn.family !== 4) return false
  return sn.prefix === cfg.subnetLen && sn.net >= cfg.subnetMin.net && sn.net <= cfg.subnetMax.net
}

/** The same for the IPv6 subnet: IPv6SubnetLen, between IPv6SubnetMin and IPv6SubnetMax. */
export function fitsConfig6(cfg: NetworkConfig, sn: Cidr): boolean {
  if (!cfg.ipv6SubnetMin || !cfg.ipv6SubnetMax || sn.family !== 6) return false
  return sn.prefix === cfg.ipv6SubnetLen && sn.net >= cfg.ipv6SubnetMin.net && sn.net <= cfg.ipv6SubnetMax.net
}

/** Up to `limit` subnets from SubnetMin to SubnetMax that overlap nothing taken (flannel's bag of 100). */
export function freeSubnets(cfg: NetworkConfig, taken: readonly Cidr[], limit = 100, family: Family = 4): Cidr[] {
  const out: Cidr[] = []
  const [min, max, len] = family === 4 ? [cfg.subnetMin, cfg.subnetMax, cfg.subnetLen] : [cfg.ipv6SubnetMin, cfg.ipv6SubnetMax, cfg.ipv6SubnetLen]
  if (!min || !max) return out
  const step = 1n << BigInt(bits(family) - len)
  // Thousands of leases: look same-size ones up in a set; only odd-sized ones need an overlap test.
  const same = new Set<bigint>()
  const odd: Cidr[] = []
  for (const t of taken) {
    if (t.family !== family) continue
    if (t.prefix === len) same.add(t.net)
    else odd.push(t)
  }
  for (let a = min.net; a <= max.net && out.length < limit; a += step) {
    if (same.has(a)) continue
    const sn = makeCidr(family, a, len)
    if (!odd.some((t) => overlaps(t, sn))) out.push(sn)
  }
  return out
}

/** What the registry holds: every subnet named by a key (taken, even if its value is bad), and the readable leases. */
export function readRegistry(prefix: string, kvs: readonly KV[], warn: (m: string) => void): { taken: Cidr[]; taken6: Cidr[]; leases: Lease[] } {
  const taken: Cidr[] = []
  const taken6: Cidr[] = []
  const leases: Lease[] = []
  for (const kv of kvs) {
    try {
      const k = parseLeaseKey(prefix, kv.key)
      taken.push(k.subnet)
      if (k.ipv6Subnet) taken6.push(k.ipv6Subnet)
      leases.push(parseLease(prefix, kv))
    } catch (e) {
      warn(`skipping unreadable lease: ${(e as Error).message}`)
    }
  }
  return { taken, taken6, leases }
}

export interface AcquireOpts {
  prefix: string
  cfg: NetworkConfig
  attrs: LeaseAttrs
  /** FLANNEL_SUBNET of the old subnet.env, as a network */
  previous?: Cidr
  /** FLANNEL_IPV6_SUBNET of the old subnet.env (used with EnableIPv6) */
  previousV6?: Cidr
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
  const v6 = o.cfg.enableIPv6
  const lost: Cidr[] = []
  const lost6: Cidr[] = []
  const done = (subnet: Cidr, ipv6Subnet: Cidr | undefined, key: string, etcdLease: string, how: Acquired['how']): Acquired => ({
    subnet,
    ipv6Subnet,
    key,
    value,
    etcdLease,
    expiresAt: Date.now() + ttl * 1000,
    how,
  })
  for (let attempt = 0; attempt < (o.attempts ?? 20); attempt++) {
    const { kvs } = await reg.list(subnetsPrefix(o.prefix))
    const { taken, taken6, leases } = readRegistry(o.prefix, kvs, (m) => o.log(`warning: ${m}`))

    const ours = leases.find((l) => l.publicIp.value === o.attrs.publicIp.value)
    if (ours) {
      // Reused only if every enabled family fits (a v4-only lease is not reused for dual stack, nor the reverse).
      const fits6 = v6 ? !!ours.ipv6Subnet && fitsConfig6(o.cfg, ours.ipv6Subnet) : !ours.ipv6Subnet
      if (fitsConfig(o.cfg, ours.subnet) && fits6 && ours.etcdLease === '0') {
        // flannel: "ttl := 0 if l.Expiration.IsZero()": a reservation stays one (weft before
        // issue 13 attached a 24 h lease to it, and the subnet was freed a day after a restart).
        o.log(`Found reservation (ip: ${ours.subnet.text}) for current IP (${o.attrs.publicIp.text}), keeping it a reservation`)
        await reg.put(ours.key, value)
        return { ...done(ours.subnet, ours.ipv6Subnet, ours.key, '0', 'reserved'), expiresAt: Infinity }
      }
      if (fitsConfig(o.cfg, ours.subnet) && fits6) {
        o.log(`Found lease (ip: ${ours.subnet.text}${v6 ? ` ipv6: ${ours.ipv6Subnet!.text}` : ''}) for current IP (${o.attrs.publicIp.text}), reusing`)
        const id = await reg.grant(ttl)
        await reg.put(ours.key, value, id)
        // The old etcd lease no longer holds the key; drop it rather than let it linger a day.
        if (ours.etcdLease !== '0' && ours.etcdLease !== id) await reg.revoke(ours.etcdLease).catch(() => {})
        return done(ours.subnet, ours.ipv6Subnet, ours.key, id, 'reused')
      }
      o.log(
        `Found lease (${ours.subnet.text}${ours.ipv6Subnet ? ` ${ours.ipv6Subnet.text}` : ''}) for current IP (${o.attrs.publicIp.text}) but not compatible with current config, deleting`,
      )
      await reg.delete(ours.key)
      const i = taken.findIndex((t) => sameCidr(t, ours.subnet))
      if (i >= 0) taken.splice(i, 1)
      const j = ours.ipv6Subnet ? taken6.findIndex((t) => sameCidr(t, ours.ipv6Subnet!)) : -1
      if (j >= 0) taken6.splice(j, 1)
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
    if (!sn) sn = pick(o.cfg, [...taken, ...lost], 4, random)
    let sn6: Cidr | undefined
    if (v6) {
      const p6 = o.previousV6
      if (p6 && !lost6.some((l) => sameCidr(l, p6))) {
        if (taken6.some((t) => overlaps(t, p6))) o.log(`Found previously leased IPv6 subnet (${p6.text}) that is already leased by another host, ignoring`)
        else if (!fitsConfig6(o.cfg, p6)) o.log(`Found previously leased IPv6 subnet (${p6.text}) that is not compatible with the Etcd network config, ignoring`)
        else {
          o.log(`Found previously leased IPv6 subnet (${p6.text}), reusing`)
          sn6 = p6
        }
      }
      if (!sn6) sn6 = pick(o.cfg, [...taken6, ...lost6], 6, random)
    }

    const key = leaseKey(o.prefix, sn, sn6)
    const id = await reg.grant(ttl)
    if (await reg.createIfAbsent(key, value, id)) {
      o.log(`Allocated lease (ip: ${sn.text}${sn6 ? ` ipv6: ${sn6.text}` : ''}) to current node (${o.attrs.publicIp.text})`)
      return done(sn, sn6, key, id, how)
    }
    await reg.revoke(id).catch(() => {})
    // The key names both subnets: another node holding either makes the create lose; both are retried elsewhere.
    o.log(`subnet ${sn.text}${sn6 ? ` / ${sn6.text}` : ''} was taken by another node meanwhile; trying another`)
    lost.push(sn)
    if (sn6) lost6.push(sn6)
  }
  throw new Error('gave up acquiring a subnet: lost the race too many times')
}

/** A random subnet of the family among the first 100 free ones, or `out of subnets`. */
function pick(cfg: NetworkConfig, taken: Cidr[], family: Family, random: () => number): Cidr {
  const bag = freeSubnets(cfg, taken, 100, family)
  if (!bag.length) {
    const [min, max] = family === 4 ? [cfg.subnetMin, cfg.subnetMax] : [cfg.ipv6SubnetMin, cfg.ipv6SubnetMax]
    throw new Error(`out of subnets: every ${family === 6 ? 'IPv6 ' : ''}subnet from ${min?.text} to ${max?.text} is leased`)
  }
  return bag[Math.floor(random() * bag.length)]
}
