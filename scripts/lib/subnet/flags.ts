// weft-subnet's flags: the writer parses its command line with this spec, and flanneld renders
// the writer's command line with it (core/flags.ts renderFlags), so the two cannot disagree.
import type { FlagSpec } from '../core/flags.ts'
import { ETCD_FLAGS } from '../registry/etcd/flags.ts'
import { KUBE_FLAGS } from '../registry/kube/flags.ts'
import { LEASE_TTL } from '../registry/etcd/lease-acquire.ts'
import { CHECK_MS } from './renew.ts'

export const WRITER_SPEC = {
  ...ETCD_FLAGS,
  ...KUBE_FLAGS,
  'public-ip': { type: 'string', help: 'IP accessible by other nodes for inter-host communication (required with etcd)', arg: 'ip' },
  'public-ipv6': { type: 'string', help: 'IPv6 address accessible by other nodes (required with EnableIPv6)', arg: 'ip' },
  iface: { type: 'string', help: 'external interface (name or address); its MTU sets FLANNEL_MTU', arg: 'name' },
  mtu: { type: 'int', default: 0, help: 'external interface MTU to use instead of reading --iface (0 = read it)', arg: 'bytes' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env', help: 'filename where env variables (subnet, MTU, ... ) will be written to', arg: 'path' },
  'ip-masq': { type: 'bool', default: false, help: 'written as FLANNEL_IPMASQ (the masquerade installer sets up the rules)' },
  'subnet-lease-renew-margin': { type: 'int', default: 60, help: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439', arg: 'minutes' },
  'subnet-lease-ttl': { type: 'int', default: LEASE_TTL, help: 'etcd lease TTL in seconds (flannel: fixed 86400; change only to test renewal)', arg: 'seconds' },
  'lease-check-interval': {
    type: 'int',
    default: CHECK_MS / 1000,
    help: "weft's own: read our lease key every this many seconds, to notice its deletion even when the watch connection is silently dead (0: never)",
    arg: 'seconds',
  },
  'config-check-interval': {
    type: 'int',
    default: 5,
    help: "weft's own: re-read the network config every this many seconds while running; one weft cannot run (or a changed one) makes the node not ready, changing nothing, until it is back",
    arg: 'seconds',
  },
  'backend-data': { type: 'string', help: 'BackendData JSON object to publish in the lease (host-gw needs none)', arg: 'json' },
  'device-check-interval': {
    type: 'int',
    default: 5,
    help: 'with --vxlan-device: seconds between checks that the vxlan device(s) still exist; a deleted one is made again',
    arg: 'seconds',
  },
  'vxlan-device': {
    type: 'bool',
    default: false,
    help: 'with a vxlan config: create or reuse flannel.<VNI> first, publish its VNI and MAC as BackendData, give it <lease IP>/32 after the lease (flanneld passes this)',
  },
  network: { type: 'string', help: 'static mode: the cluster network (no registry), with --subnet', arg: 'cidr' },
  subnet: { type: 'string', help: "static mode: this node's subnet, inside --network", arg: 'cidr' },
  once: { type: 'bool', default: false, help: 'acquire the lease and write subnet.env, then exit without renewing' },
  'dry-run': { type: 'bool', default: false, help: 'print the etcd operations and the subnet.env it would write; change nothing' },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies FlagSpec
