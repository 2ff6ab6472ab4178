// A Node as flannel's kube subnet manager reads and writes it (pkg/subnet/kube/kube.go), as pure
// functions: our subnet(s) from spec.podCIDRs / spec.podCIDR, the annotations we publish (only
// those that differ go into the strategic-merge patch of nodes/<n>/status), the
// NetworkUnavailable condition, and a peer Node as a flannel lease record (a key naming its
// podCIDR(s), LeaseAttrs JSON from its annotations) for the same peer judge as etcd leases.
import { parseCidr, parseIp, containsCidr, type Cidr } from '../../net/cidr.ts'
import type { NetworkConfig } from '../../formats/net-conf.ts'
import type { OurAttrs, OurLease, PeerRecord } from '../registry.ts'
import type { KubeNode } from './informer.ts'

export const DEFAULT_PREFIX = 'flannel.alpha.coreos.com'

/** flannel: the prefix gets a '/' appended when it has none. */
export function annotationPrefix(p: string): string {
  return p.endsWith('/') ? p : `${p}/`
}

export const ann = (prefix: string) => ({
  managed: `${prefix}kube-subnet-manager`,
  type: `${prefix}backend-type`,
  data: `${prefix}backend-data`,
  data6: `${prefix}backend-v6-data`,
  ip: `${prefix}public-ip`,
  ip6: `${prefix}public-ipv6`,
  overwrite: `${prefix}public-ip-overwrite`,
  overwrite6: `${prefix}public-ipv6-overwrite`,
  nodeIp: `${prefix}node-public-ip`,
  nodeIp6: `${prefix}node-public-ipv6`,
})

export type Subnets = { lease: OurLease } | { wait: string }

/**
 * Our subnet(s): spec.podCIDRs split by family, else spec.podCIDR. Unassigned: wait (flannel's
 * `pod cidr not assigned`). Outside the network: thrown, with flannel's message.
 */
export function nodeSubnets(node: KubeNode, cfg: NetworkConfig): Subnets {
  const name = node.metadata.name
  const texts = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : []
  if (!texts.length) return { wait: `node "${name}" pod cidr not assigned` }
  let v4: Cidr | undefined
  let v6: Cidr | undefined
  for (const t of texts) {
    let c: Cidr
    try {
      c = parseCidr(String(t))
    } catch {
      throw new Error(`node "${name}": podCIDR ${JSON.stringify(t)} is not a CIDR`)
    }
    if (c.family === 4) v4 ??= c
    else v6 ??= c
  }
  if (cfg.enableIPv4) {
    if (!v4) return { wait: `node "${name}" has no IPv4 pod cidr assigned (podCIDRs ${JSON.stringify(texts)})` }
    if (!cfg.network || !containsCidr(cfg.network, v4) || v4.prefix <= cfg.network.prefix)
      throw new Error(`subnet "${cfg.network?.text}" specified in the flannel net config doesn't contain "${v4.text}" PodCIDR of the "${name}" node`)
  }
  if (cfg.enableIPv6) {
    if (!v6) return { wait: `node "${name}" has no IPv6 pod cidr assigned (podCIDRs ${JSON.stringify(texts)})` }
    if (!cfg.ipv6Network || !containsCidr(cfg.ipv6Network, v6) || v6.prefix <= cfg.ipv6Network.prefix)
      throw new Error(`subnet "${cfg.ipv6Network?.text}" specified in the flannel net config doesn't contain "${v6.text}" IPv6 PodCIDR of the "${name}" node`)
  }
  return { lease: { subnet: v4!, ipv6Subnet: cfg.enableIPv6 ? v6 : undefined } }
}

/**
 * The network config as the parts use it: net-conf.json, with SubnetLen / IPv6SubnetLen taken
 * from our Node's podCIDR sizes where net-conf does not set them (`by`). A podCIDR that is
 * unassigned or wrong leaves the config as it is (acquire says what is wrong with it).
 */
export function configForNode(netConf: NetworkConfig, by: { v4: boolean; v6: boolean }, node: KubeNode): NetworkConfig {
  const cfg = { ...netConf }
  try {
    const s = nodeSubnets(node, cfg)
    if ('lease' in s) {
      if (by.v4 && s.lease.subnet) cfg.subnetLen = s.lease.subnet.prefix
      if (by.v6 && s.lease.ipv6Subnet) cfg.ipv6SubnetLen = s.lease.ipv6Subnet.prefix
    }
  } catch {}
  return cfg
}

/**
 * The annotations flannel sets when any of them differs (AcquireLease): only the changed keys, or
 * undefined when nothing changes (a no-op is not written). public-ip-overwrite wins over our IP.
 */
export function annotationPatch(current: Record<string, string>, attrs: OurAttrs, prefix: string, say: (m: string) => void): Record<string, string> | undefined {
  const a = ann(prefix)
  const want: Record<string, string> = {
    [a.type]: attrs.backendType,
    [a.data]: JSON.stringify(attrs.backendData ?? null),
    [a.ip]: overwritten(current, a.overwrite, attrs.publicIp.text, 4, say),
    [a.managed]: 'true',
  }
  if (attrs.publicIpv6) {
    want[a.data6] = JSON.stringify(attrs.backendV6Data ?? null)
    want[a.ip6] = overwritten(current, a.overwrite6, attrs.publicIpv6.text, 6, say)
  }
  const changed = Object.fromEntries(Object.entries(want).filter(([k, v]) => current[k] !== v))
  return Object.keys(changed).length ? changed : undefined
}

function overwritten(current: Record<string, string>, key: string, ours: string, fam: 4 | 6, say: (m: string) => void): string {
  const o = current[key]
  if (!o) return ours
  try {
    const ip = parseIp(o, fam).text
    if (ip !== ours) say(`Overriding public ip with '${ip}' from node annotation '${key}'`)
    return ip
  } catch {
    say(`ignoring node annotation ${key}=${JSON.stringify(o.slice(0, 60))}: not an IPv${fam} address; publishing ${ours}`)
    return ours
  }
}

/** CompleteLease: NetworkUnavailable False, reason FlannelIsUp; undefined when already so. */
export function conditionPatch(node: KubeNode, now: Date): Record<string, unknown> | undefined {
  const cur = (node.status?.conditions ?? []).find((c: { type?: string }) => c?.type === 'NetworkUnavailable')
  if (cur?.status === 'False' && cur?.reason === 'FlannelIsUp') return undefined
  const t = now.toISOString().replace(/\.\d+Z$/, 'Z')
  return {
    status: {
      conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp', message: 'Flannel is running on this node', lastTransitionTime: t, lastHeartbeatTime: t }],
    },
  }
}

/** The MACs our vxlan devices had, from our own Node's backend-data annotations (a restart keeps them). */
export function ourVtepMacs(node: KubeNode | undefined, prefix: string): { v4?: string; v6?: string } {
  const a = ann(prefix)
  const mac = (k: string) => {
    try {
      const m = JSON.parse(node?.metadata.annotations?.[k] ?? 'null')?.VtepMAC
      // Only a plain unicast MAC goes to `ip link add ... address`.
      return typeof m === 'string' && /^[0-9a-f]([02468ace])(:[0-9a-f]{2}){5}$/i.test(m) ? m.toLowerCase() : undefined
    } catch {
      return undefined
    }
  }
  return { v4: mac(a.data), v6: mac(a.data6) }
}

const json = (s: string | undefined): unknown => {
  if (s === undefined) return null
  try {
    return JSON.parse(s)
  } catch {
    return s // kept as a string: the peer judge refuses it by name
  }
}

/**
 * A peer Node as a flannel lease record, or undefined when flannel does not manage it (no
 * `kube-subnet-manager: "true"`). Nothing is checked here: every value goes to parseLease +
 * peerProblem, as an etcd lease's would; a hostile podCIDR only ever lands in a key that the
 * strict key parser refuses.
 */
export function nodeRecord(node: KubeNode, prefix: string): PeerRecord | undefined {
  const a = ann(prefix)
  const an = node.metadata.annotations ?? {}
  if (an[a.managed] !== 'true') return undefined
  const cidrs = (node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : []).map(String)
  const v4 = cidrs.find((c) => !c.includes(':'))
  const v6 = cidrs.find((c) => c.includes(':'))
  const recPrefix = `node/${node.metadata.name}`
  const key = `${recPrefix}/subnets/${v4 ? v4.replace('/', '-') : '(no IPv4 podCIDR)'}${v6 ? `&${v6.replace('/', '-')}` : ''}`
  const value = JSON.stringify({
    PublicIP: an[a.ip] ?? null,
    PublicIPv6: an[a.ip6] ?? null,
    BackendType: an[a.type] ?? '',
    BackendData: json(an[a.data]),
    BackendV6Data: json(an[a.data6]),
  })
  return { key, value, modRevision: Number(node.metadata.resourceVersion) || 0, prefix: recPrefix }
}
