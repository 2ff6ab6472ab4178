// weft-routes's flags: the route syncer parses its command line with this spec, and flanneld
// renders the syncer's command line with it (core/flags.ts renderFlags).
import type { FlagSpec } from '../core/flags.ts'
import { ETCD_FLAGS } from '../registry/etcd/flags.ts'
import { KUBE_FLAGS } from '../registry/kube/flags.ts'

export const ROUTES_SPEC = {
  ...ETCD_FLAGS,
  ...KUBE_FLAGS,
  iface: { type: 'string', help: 'external interface the peer routes go through (required)', arg: 'name' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'file holding our subnet and the cluster network', arg: 'path' },
  subnet: { type: 'string', help: 'our own subnet (overrides FLANNEL_SUBNET of --subnet-file)', arg: 'cidr' },
  network: { type: 'string', help: 'the cluster network (overrides FLANNEL_NETWORK of --subnet-file)', arg: 'cidr' },
  'ipv6-subnet': { type: 'string', help: 'our own IPv6 subnet (overrides FLANNEL_IPV6_SUBNET; with --ipv6-network)', arg: 'cidr' },
  'ipv6-network': { type: 'string', help: 'the IPv6 cluster network (overrides FLANNEL_IPV6_NETWORK; with --ipv6-subnet)', arg: 'cidr' },
  'ip-blackhole-route': { type: 'bool', help: 'keep a blackhole route (metric 10000) for our own subnet(s), re-added by every full resync' },
  resync: { type: 'int', default: 10, help: 'seconds between full resyncs (kernel re-read, registry re-list)', arg: 'seconds' },
  once: { type: 'bool', help: 'one full sync, then exit (status 1 if a route could not be written)' },
  'dry-run': { type: 'bool', help: 'print the ip -batch plan of one sync and change nothing' },
  help: { type: 'bool', help: 'show this help' },
} satisfies FlagSpec
