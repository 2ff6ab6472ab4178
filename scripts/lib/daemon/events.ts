// Parts report to flanneld as one JSON object per line on a channel of their own: the fd named by
// WEFT_EVENTS_FD (flanneld passes a pipe as fd 3). Not stdout, which carries --dry-run plans and
// weft-subnet's `subnet-written` line for scripts; not stderr, which is prose for operators.
// Run by hand (no WEFT_EVENTS_FD), a part emits nothing here. flanneld's readiness, liveness,
// metrics and --dry-run are built from these events only, never from log text.
import { writeSync } from 'node:fs'

/** What the node needs beside routes, checked by the route syncer (routes/conditions.ts). */
export const CONDITION_KINDS = ['forwarding', 'bridge_nf_call_iptables', 'mtu'] as const
export type ConditionKind = (typeof CONDITION_KINDS)[number]

/** subnet.env's values, as the subnet writer wrote (or, with --dry-run, would write) them */
export interface SubnetValues {
  file: string
  network?: string
  subnet?: string
  ipv6Network?: string
  ipv6Subnet?: string
  mtu: number
}

export type PartEvent =
  /** "I am alive": every second while the event loop turns (flanneld kills a part that stops) */
  | { event: 'heartbeat' }
  /** the part reached its steady state (rules in place, routes synced, subnet.env written) */
  | { event: 'ready'; detail: string }
  /** the part cannot do its job right now, and why */
  | { event: 'not-ready'; reason: string }
  /** weft-subnet wrote subnet.env (or planned it, under --dry-run) */
  | ({ event: 'subnet'; planned: boolean } & SubnetValues)
  /** our lease's expiry, unix seconds (after acquiring or renewing it) */
  | { event: 'lease'; expiry: number }
  /** one sync of routes (host-gw) or peers (vxlan) applied */
  | {
      event: 'synced'
      full: boolean
      seconds: number
      peers: number
      desired: number
      present: number
      added: number
      removed: number
      replaced: number
      ok: boolean /** why the node cannot carry traffic anyway (forwarding off) */
      problem?: string
    }
  /** something the kernel lost or changed was put back: what, and why it was needed */
  | { event: 'repaired'; kind: 'route' | 'fdb' | 'neigh' | 'rule' | 'device'; what: string; why: string }
  /** a failure worth counting: the registry out of reach, a batch that failed */
  | { event: 'error'; kind: 'registry' | 'apply' | 'config'; message: string }
  /** a condition the node needs beside routes (routes/conditions.ts) changed: holds (ok) or not, and why */
  | { event: 'condition'; kind: ConditionKind; ok: boolean; reason: string }
  /** the registry watch broke and is resumed (or relisted) */
  | { event: 'watch-restart'; reason: string }

export type EventName = PartEvent['event']

const KINDS: Record<string, readonly string[]> = {
  repaired: ['route', 'fdb', 'neigh', 'rule', 'device'],
  error: ['registry', 'apply', 'config'],
  condition: CONDITION_KINDS,
}
// The fields each event must carry, with their JSON type; optional fields are checked when present.
const FIELDS: Record<EventName, Record<string, string>> = {
  heartbeat: {},
  ready: { detail: 'string' },
  'not-ready': { reason: 'string' },
  subnet: { planned: 'boolean', file: 'string', mtu: 'number' },
  lease: { expiry: 'number' },
  synced: { full: 'boolean', seconds: 'number', peers: 'number', desired: 'number', present: 'number', added: 'number', removed: 'number', replaced: 'number', ok: 'boolean' },
  repaired: { kind: 'string', what: 'string', why: 'string' },
  error: { kind: 'string', message: 'string' },
  'watch-restart': { reason: 'string' },
  condition: { kind: 'string', ok: 'boolean', reason: 'string' },
}
const OPTIONAL: Record<string, string> = { network: 'string', subnet: 'string', ipv6Network: 'string', ipv6Subnet: 'string' }

/** One line from a part -> a typed event, or a reason it is not one (the supervisor logs it once). */
export function parseEvent(line: string): PartEvent | { invalid: string } {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return { invalid: 'not JSON' }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { invalid: 'not a JSON object' }
  const o = v as Record<string, unknown>
  if (typeof o.event !== 'string' || !Object.hasOwn(FIELDS, o.event)) return { invalid: `unknown event ${JSON.stringify(o.event)}` }
  for (const [k, t] of Object.entries(FIELDS[o.event as EventName])) {
    if (typeof o[k] !== t) return { invalid: `${o.event}: field ${k} must be a ${t}` }
    if (t === 'number' && !Number.isFinite(o[k])) return { invalid: `${o.event}: field ${k} must be a finite number` }
  }
  if (o.event === 'subnet') for (const [k, t] of Object.entries(OPTIONAL)) if (k in o && typeof o[k] !== t) return { invalid: `subnet: field ${k} must be a ${t}` }
  if (o.event === 'synced' && 'problem' in o && typeof o.problem !== 'string') return { invalid: 'synced: field problem must be a string' }
  const kinds = KINDS[o.event]
  if (kinds && !kinds.includes(o.kind as string)) return { invalid: `${o.event}: unknown kind ${JSON.stringify(o.kind)}` }
  return o as PartEvent
}

/** The events fd this process was given, or undefined (run by hand). */
function eventsFd(): number | undefined {
  const s = process.env.WEFT_EVENTS_FD
  if (!s || !/^[3-9]$/.test(s)) return undefined
  return Number(s)
}

let fd: number | undefined | null = null

/** Report one event to the supervisor; nothing when there is none. */
export function emit(ev: PartEvent): void {
  if (fd === null) fd = eventsFd()
  if (fd === undefined) return
  try {
    writeSync(fd, JSON.stringify(ev) + '\n')
  } catch (e) {
    // EPIPE: the supervisor is gone. Its parts must not run on unsupervised (issue 13.6).
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0)
    throw e
  }
}

/** Supervised: a heartbeat every `ms` while the event loop turns; a stopped or hung loop stops it. */
export function startHeartbeat(ms = Number(process.env.WEFT_HEARTBEAT_MS) || 1000): void {
  if (eventsFd() === undefined) return
  emit({ event: 'heartbeat' })
  // unref: a part that is done (--once) exits; the heartbeat never keeps it alive.
  setInterval(() => emit({ event: 'heartbeat' }), ms).unref()
}
