// Routes to peers are useless if this node does not forward: pods' packets to other nodes, and
// other nodes' packets to our pods, are dropped. flannel neither sets nor checks it (kubelet
// setups usually do); weft does not set it either (a host sysctl is the operator's), but the
// route syncer reports it at every full sync, so /readyz says why the node cannot carry traffic.
// Only once pods are attached (cni0 exists): the bridge plugin turns forwarding on with the first
// pod, so before that "off" is normal and must not keep a fresh node unready.
import { existsSync, readFileSync } from 'node:fs'
import type { Family } from '../net/cidr.ts'

const KEYS: Record<Family, string> = { 4: 'net/ipv4/ip_forward', 6: 'net/ipv6/conf/all/forwarding' }

/** Why this namespace does not forward for these families, or '' (unreadable counts as fine: not ours to guess). */
export function forwardingProblem(
  families: Family[],
  read = (p: string) => readFileSync(`/proc/sys/${p}`, 'utf8'),
  podsAttached = () => existsSync('/sys/class/net/cni0'),
): string {
  if (!podsAttached()) return ''
  const off: string[] = []
  for (const f of families) {
    try {
      if (read(KEYS[f]).trim() === '0') off.push(`${KEYS[f].replace(/\//g, '.')}=0`)
    } catch {}
  }
  return off.length ? `forwarding is off (${off.join(', ')}): traffic to and from other nodes' pods is dropped; sysctl -w ${off.map((o) => o.replace('=0', '=1')).join(' ')}` : ''
}
