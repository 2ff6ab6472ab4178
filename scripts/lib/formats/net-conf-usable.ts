// Whether weft can run a parsed network config, checked before anything is written (issue 13
// item 5). flannel's CheckNetworkConfig takes a config weft then fails on: an unsupported backend
// (udp, flannel's default when Backend is omitted; wireguard; ipip) used to get a lease and a
// subnet.env, log "ready", then exit 1, and pods got addresses on a node with no daemon; VNI -1
// or Port 99999 crashed the subnet writer every second (backend values are now checked where the
// config is parsed, formats/backend.ts). Here each is an error that the config
// readers (config-wait.ts) treat like a missing config: wait, not ready, one line per change.
import { overlaps, parseCidr, type Cidr } from '../net/cidr.ts'
import type { NetworkConfig } from './net-conf.ts'

export const IPV6_ONLY =
  'invalid network config: IPv6-only (EnableIPv4 false) is not supported by weft yet: use dual stack (EnableIPv4 with Network, and EnableIPv6 with IPv6Network)'

export const SUPPORTED_BACKENDS = ['host-gw', 'vxlan']

// Ranges a pod network can never be in: the host's own traffic would be routed into it, or the
// kernel never forwards it. 0.0.0.0/8 also catches 0.0.0.0/0 (and ::/128 catches ::/0).
const UNUSABLE: [string, string][] = [
  ['0.0.0.0/8', 'the "this network" range'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved (class E and broadcast)'],
  ['::/128', 'the unspecified address'],
  ['::1/128', 'loopback'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
]
const unusable = UNUSABLE.map(([c, why]) => ({ cidr: parseCidr(c), why }))

function checkNetwork(field: string, net: Cidr | undefined): void {
  if (!net) return
  if (net.prefix === 0) throw new Error(`invalid network config: ${field} ${net.text} is every address: a pod network must leave room for the hosts and the rest of the world`)
  const bad = unusable.find((u) => u.cidr.family === net.family && overlaps(u.cidr, net))
  if (bad) throw new Error(`invalid network config: ${field} ${net.text} overlaps ${bad.cidr.text} (${bad.why}), which is never routed to pods`)
}

/** The config, if weft can run it; else throws one line saying what is wrong. */
export function checkUsable(cfg: NetworkConfig): NetworkConfig {
  const t = cfg.backend.type
  if (!SUPPORTED_BACKENDS.includes(t)) {
    const omitted = cfg.backend.type === 'udp' && cfg.backend.implicit ? ' (no Backend given: flannel then uses udp)' : ''
    throw new Error(`invalid network config: backend type "${t}"${omitted} is not supported by weft: use "host-gw" or "vxlan"`)
  }
  if (cfg.enableIPv4) checkNetwork('Network', cfg.network)
  if (cfg.enableIPv6) checkNetwork('IPv6Network', cfg.ipv6Network)
  // flannel runs IPv6-only; weft's lease, routes, masquerade and flanneld's interface choice all
  // assume an IPv4 side yet. Refused by name, before anything is written, as a config to wait on.
  if (!cfg.enableIPv4) throw new Error(IPV6_ONLY)
  return cfg
}
