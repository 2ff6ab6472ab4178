// What the node needs beside routes for pods to reach each other, checked by the route syncer at
// every full sync (its events make /readyz and weft_node_condition follow them) and by the doctor,
// with the same functions so the two can never disagree:
// - forwarding on (forwarding.ts), once pods are attached;
// - bridge-nf-call-iptables (and -ip6tables with IPv6) on while br_netfilter is loaded: bridged
//   pod traffic otherwise skips iptables, and kube-proxy's Service rules with it. Read from
//   /proc/sys of this network namespace (per namespace since br_netfilter became netns-aware);
//   without the module there is nothing to read, and that is the doctor's warning, not a failure;
// - one MTU from the external interface to the pods: FLANNEL_MTU as the subnet writer computes
//   it from the interface's MTU now (backendMtu), and the pods' bridge not above it.
// Sysctls and MTUs are read from /proc and /sys (no process spawned: this runs every resync).
import { existsSync, readFileSync } from 'node:fs'
import type { Family } from '../net/cidr.ts'
import type { Backend } from '../formats/backend.ts'
import { parseSubnetEnv } from '../formats/subnet-env.ts'
import { backendMtu } from '../subnet/mtu.ts'
import { forwardingProblem } from './forwarding.ts'
import type { ConditionKind } from '../daemon/events.ts'

export interface Condition {
  kind: ConditionKind
  ok: boolean
  /** why not ('' when ok), with the command that fixes it */
  reason: string
}

/** Reads of this namespace's /proc and /sys (replaced in unit tests). */
export interface Sys {
  /** a file's text; throws when it cannot be read */
  read(path: string): string
  exists(path: string): boolean
}

export const realSys: Sys = { read: (p) => readFileSync(p, 'utf8'), exists: existsSync }

const sysctlPath = (key: string) => `/proc/sys/${key.replace(/\./g, '/')}`

/** The bridge-nf-call sysctls that are off, or undefined when br_netfilter is not loaded. */
export function bridgeNfOff(v6: boolean, sys: Sys = realSys): string[] | undefined {
  if (!sys.exists('/proc/sys/net/bridge')) return undefined
  const keys = ['net.bridge.bridge-nf-call-iptables', ...(v6 ? ['net.bridge.bridge-nf-call-ip6tables'] : [])]
  return keys.filter((k) => {
    try {
      return sys.read(sysctlPath(k)).trim() !== '1'
    } catch {
      return true
    }
  })
}

export const bridgeNfFix = (off: string[]) => off.map((k) => `sysctl -w ${k}=1`).join(' && ')

export interface MtuFacts {
  iface: string
  ifaceMtu: number
  /** FLANNEL_MTU as the subnet writer would compute it from ifaceMtu now */
  want: number
  /** FLANNEL_MTU in subnet.env */
  envMtu?: number
  /** the pods' bridge, when it exists */
  bridge?: { name: string; mtu: number }
}

/** What is inconsistent between the interface, subnet.env and the pods' bridge ([] when nothing). */
export function mtuProblems(m: MtuFacts): string[] {
  const bad: string[] = []
  if (m.envMtu !== m.want) bad.push(`FLANNEL_MTU is ${m.envMtu ?? '(none)'}, want ${m.want} for ${m.iface}'s MTU ${m.ifaceMtu}`)
  if (m.bridge && m.bridge.mtu > m.want) bad.push(`${m.bridge.name} MTU ${m.bridge.mtu} is above ${m.want}: pods send packets the path cannot carry`)
  return bad
}

export interface NodeFacts {
  families: Family[]
  /** the external interface */
  iface: string
  backend: Backend
  subnetFile: string
}

function linkMtu(name: string, sys: Sys): number | undefined {
  try {
    const n = Number(sys.read(`/sys/class/net/${name}/mtu`).trim())
    return Number.isInteger(n) && n > 0 ? n : undefined
  } catch {
    return undefined
  }
}

/** The MTU facts of this namespace now; undefined when the interface or subnet.env cannot be read (not ours to judge). */
export function readMtuFacts(n: NodeFacts, sys: Sys = realSys): MtuFacts | undefined {
  const ifaceMtu = linkMtu(n.iface, sys)
  if (ifaceMtu === undefined) return undefined
  let envMtu: number | undefined
  try {
    envMtu = parseSubnetEnv(sys.read(n.subnetFile), n.subnetFile).mtu
  } catch {
    return undefined // readiness names a missing subnet.env on its own
  }
  const br = linkMtu('cni0', sys)
  return { iface: n.iface, ifaceMtu, want: backendMtu(n.backend, ifaceMtu), envMtu, bridge: br === undefined ? undefined : { name: 'cni0', mtu: br } }
}

/** Every condition, as the route syncer reports them. */
export function nodeConditions(n: NodeFacts, sys: Sys = realSys): Condition[] {
  const fwd = forwardingProblem(
    n.families,
    (p) => sys.read(`/proc/sys/${p}`),
    () => sys.exists('/sys/class/net/cni0'),
  )
  const off = bridgeNfOff(n.families.includes(6), sys) ?? []
  const nf = off.length ? `${off.map((k) => `${k}=0`).join(', ')}: bridged pod traffic skips iptables (Services break); ${bridgeNfFix(off)}` : ''
  const facts = readMtuFacts(n, sys)
  const bad = facts ? mtuProblems(facts) : []
  const mtu = bad.length
    ? `MTU mismatch: ${bad.join('; ')}; ${facts!.envMtu !== facts!.want ? 'restart flanneld (rewrites FLANNEL_MTU)' : `ip link set dev cni0 mtu ${facts!.want}`}`
    : ''
  return [
    { kind: 'forwarding', ok: !fwd, reason: fwd },
    { kind: 'bridge_nf_call_iptables', ok: !nf, reason: nf },
    { kind: 'mtu', ok: !mtu, reason: mtu },
  ]
}
