// The doctor's idea of "desired", read the way the parts read it: the network config and the
// leases from the registry (the same etcd client, config parser and lease parser), our subnet.env
// with the one subnet.env parser, the external interface chosen with flanneld's own selection.
// Checks here: the registry, subnet.env against our lease, the lease's time left.
import { readFileSync } from 'node:fs'
import { parseSubnetEnv, type SubnetEnv } from '../formats/subnet-env.ts'
import { parseNetworkConfig, type NetworkConfig } from '../formats/net-conf.ts'
import { parseLease, type Lease } from '../formats/lease.ts'
import { sameCidr } from '../net/cidr.ts'
import type { EtcdClient, KV } from '../registry/etcd/client.ts'
import type { PeerRecord } from '../registry/registry.ts'
import { errText } from '../core/log.ts'
import { ok, fail, warn, skip, type Verdict } from './report.ts'
import type { KubeState } from './kube.ts'

export interface Desired {
  env?: SubnetEnv
  cfg?: NetworkConfig
  leases?: Map<string, PeerRecord>
  /** our lease, found by subnet.env's subnet */
  own?: Lease
  ownKv?: KV
  /** Kubernetes mode: our Node and its podCIDR(s) (kube.ts) */
  kube?: KubeState
}

const RESTART = 'systemctl restart flanneld'

/** Wait for p at most ms: a registry out of reach must not hang the doctor. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const late = new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer within ${ms / 1000} s`)), ms).unref())
  return Promise.race([p, late])
}

export function readSubnetEnv(path: string, d: Desired): Verdict | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    return fail('subnet.env', `${path}: ${errText(e)}; every CNI ADD fails until it is written`, `${RESTART} (weft-subnet writes it)`)
  }
  try {
    d.env = parseSubnetEnv(text, path)
  } catch (e) {
    return fail('subnet.env', errText(e), `rm ${path} && ${RESTART}`)
  }
  return undefined
}

export async function readRegistry(etcd: EtcdClient, prefix: string, d: Desired): Promise<Verdict> {
  const base = prefix.replace(/\/+$/, '')
  const t0 = Date.now()
  let kv: KV | undefined
  try {
    kv = await within(etcd.get(`${base}/config`), 5000, 'etcd')
  } catch (e) {
    return fail('registry', `etcd at ${etcd.endpoints.join(',')} unreachable: ${errText(e)}`, `etcdctl --endpoints=${etcd.endpoints.join(',')} endpoint health`)
  }
  if (!kv) return fail('registry', `no network config at ${base}/config`, `etcdctl put ${base}/config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'`)
  try {
    d.cfg = parseNetworkConfig(kv.value)
  } catch (e) {
    return fail('registry', `${base}/config: ${errText(e)}`, `etcdctl get ${base}/config, then put a valid one`)
  }
  try {
    const list = await within(etcd.list(`${base}/subnets/`), 5000, 'etcd')
    d.leases = new Map(list.kvs.map((k) => [k.key, k]))
  } catch (e) {
    return fail('registry', `listing ${base}/subnets/: ${errText(e)}`, `etcdctl --endpoints=${etcd.endpoints.join(',')} endpoint health`)
  }
  const c = d.cfg
  return ok(
    'registry',
    `etcd ${etcd.endpoints.join(',')} answered in ${Date.now() - t0} ms; Network ${c.network?.text ?? '-'}${c.ipv6Network ? ` + ${c.ipv6Network.text}` : ''}, backend ${c.backend.type}, ${d.leases.size} lease(s)`,
  )
}

/** subnet.env against the config and our lease (found by its subnet); its MTU is the mtu check's. */
export function checkSubnetEnv(path: string, d: Desired, prefix: string, publicIp: string): Verdict {
  const env = d.env!
  if (!env.subnet) return fail('subnet.env', `${path} has no FLANNEL_SUBNET`, `rm ${path} && ${RESTART}`)
  if (!d.cfg || !d.leases) return warn('subnet.env', `${path}: subnet ${env.subnet.text}; not compared with the registry (unreachable)`)
  const problems: string[] = []
  if (d.cfg.network && env.networks[0]?.text !== d.cfg.network.text) problems.push(`FLANNEL_NETWORK ${env.networks[0]?.text ?? '(none)'} but the config says ${d.cfg.network.text}`)
  for (const kv of d.leases.values()) {
    try {
      const l = parseLease(prefix, kv)
      if (sameCidr(l.subnet, env.subnet)) {
        d.own = l
        d.ownKv = kv as KV // etcd mode: every record is an etcd KV
      }
    } catch {}
  }
  if (!d.own) problems.push(`no lease in the registry for FLANNEL_SUBNET ${env.subnet.text}`)
  else if (d.own.publicIp.text !== publicIp) problems.push(`the lease for ${env.subnet.text} belongs to ${d.own.publicIp.text}, not this node (${publicIp})`)
  if (problems.length) return fail('subnet.env', `${path}: ${problems.join('; ')}`, `${RESTART} (weft-subnet takes or renews the lease and rewrites ${path})`)
  return ok('subnet.env', `${path}: network ${env.networks[0]?.text}, subnet ${env.subnet.text}${env.ipv6Subnet ? ` + ${env.ipv6Subnet.text}` : ''}, matches our lease`)
}

/** Our lease's time left against the renew margin (flanneld renews margin minutes before expiry). */
export async function checkLease(etcd: EtcdClient, d: Desired, marginMinutes: number): Promise<Verdict> {
  if (!d.own || !d.ownKv) return skip('lease', 'no lease of ours to look at (see subnet.env)')
  const id = d.ownKv.lease
  if (id === '0') return ok('lease', `${d.own.key}: a reservation (no TTL)`)
  let left: number
  try {
    left = await within(etcd.timeToLive(id), 5000, 'etcd')
  } catch (e) {
    return warn('lease', `${d.own.key}: time left unknown: ${errText(e)}`)
  }
  const h = (s: number) => `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  if (left <= 0) return fail('lease', `${d.own.key}: expired`, RESTART)
  // The writer renews at margin before expiry: less than that left means it is not renewing.
  if (left < marginMinutes * 60 - 60) return warn('lease', `${d.own.key}: ${h(left)} left, past the renew margin (${marginMinutes} min): is weft-subnet running?`, RESTART)
  return ok('lease', `${d.own.key}: ${h(left)} left (renewed ${marginMinutes} min before expiry)`)
}
