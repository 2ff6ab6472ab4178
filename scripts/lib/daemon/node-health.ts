// What flanneld knows about its node, built only from its parts' typed events and lifecycle
// (events.ts, supervise.ts): each part's state for /readyz, and the Prometheus metrics for
// /metrics. Ready means: subnet.env is on disk and every part flanneld runs has reported ready
// since it last started (the writer wrote subnet.env, the masquerade rules are in place, routes
// synced once), and none has failed, hung or died since.
import { existsSync } from 'node:fs'
import type { PartEvent } from './events.ts'
import { Counter, Gauge, Histogram, Registry } from './metrics.ts'

export type PartState = 'not-started' | 'starting' | 'ready' | 'not-ready' | 'hung' | 'restarting'

export interface PartHealth {
  state: PartState
  /** why it is in this state (the last reason, sync or error) */
  detail: string
  /** since when (ISO time) */
  since: string
  pid?: number
  restarts: number
}

export class NodeHealth {
  readonly parts = new Map<string, PartHealth>()
  readonly registry = new Registry()
  private readonly m
  constructor(
    private readonly subnetFile: string,
    version: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    const r = this.registry
    this.m = {
      build: r.add(new Gauge('weft_build_info', 'weft build: version and Node.js version, always 1')),
      ready: r.add(new Gauge('weft_ready', '1 while /readyz answers 200')),
      partReady: r.add(new Gauge('weft_part_ready', '1 while the part has reported ready since it last started')),
      restarts: r.add(new Counter('weft_part_restarts_total', 'part restarts after a death or a hang, by part')),
      hangs: r.add(new Counter('weft_part_hangs_total', 'parts killed because their heartbeats stopped, by part')),
      leaseExpiry: r.add(new Gauge('weft_lease_expiry_timestamp_seconds', 'when our subnet lease expires unless renewed (unix time)')),
      peers: r.add(new Gauge('weft_peers', 'peer leases the route syncer knows and routes to')),
      desired: r.add(new Gauge('weft_routes_desired', 'routes (host-gw) or peers (vxlan) the registry asks for, at the last sync')),
      present: r.add(new Gauge('weft_routes_present', 'of those, present in the kernel after the last sync')),
      added: r.add(new Counter('weft_routes_added_total', 'routes or vxlan peers added to the kernel')),
      removed: r.add(new Counter('weft_routes_removed_total', 'stale routes or vxlan peers removed from the kernel')),
      replaced: r.add(new Counter('weft_routes_replaced_total', 'routes or vxlan peers rewritten because the kernel held a different one')),
      repaired: r.add(new Counter('weft_routes_repaired_total', 'kernel entries put back by a resync (drift, not a registry change), by kind')),
      syncs: r.add(new Counter('weft_syncs_total', 'route syncs applied, by result')),
      syncSeconds: r.add(new Histogram('weft_sync_duration_seconds', 'duration of one route sync (plan and apply)', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])),
      registryErrors: r.add(new Counter('weft_registry_errors_total', 'failed registry requests (etcd unreachable, a failed list or watch), by part')),
      watchRestarts: r.add(new Counter('weft_watch_restarts_total', 'registry watches resumed or relisted after breaking')),
      masqRepairs: r.add(new Counter('weft_masq_rule_repairs_total', 'masquerade/forward rule sets re-applied because rules were missing or changed')),
      applyErrors: r.add(new Counter('weft_apply_errors_total', 'kernel batches (routes, fdb, rules) that failed, by part')),
      condition: r.add(
        new Gauge(
          'weft_node_condition',
          'the route syncer last found this condition holding (1) or not (0): forwarding on, bridge-nf-call-iptables on while br_netfilter is loaded, one MTU from the interface to the pods',
        ),
      ),
    }
    this.m.build.set(1, { version, nodejs: process.version })
    this.m.syncs.touch({ result: 'ok' })
    this.m.syncs.touch({ result: 'error' })
    this.m.registryErrors.touch()
    this.m.watchRestarts.touch()
    this.m.masqRepairs.touch()
    for (const k of ['route', 'fdb', 'neigh']) this.m.repaired.touch({ kind: k })
  }

  /** A part flanneld will run: listed (not started) from the start, so readiness waits for it. */
  expect(part: string): void {
    if (this.parts.has(part)) return
    this.parts.set(part, { state: 'not-started', detail: 'waiting for its turn', since: this.now().toISOString(), restarts: 0 })
    this.m.restarts.touch({ part })
    this.m.hangs.touch({ part })
    this.m.partReady.set(0, { part })
  }

  private set(part: string, state: PartState, detail: string): void {
    this.expect(part)
    const p = this.parts.get(part)!
    if (p.state !== state) p.since = this.now().toISOString()
    p.state = state
    p.detail = detail
    this.m.partReady.set(state === 'ready' ? 1 : 0, { part })
  }

  lifecycle(part: string, what: 'started' | 'died' | 'hung', detail: string, pid?: number): void {
    if (what === 'started') {
      this.set(part, 'starting', detail)
      this.parts.get(part)!.pid = pid
      return
    }
    const p = this.parts.get(part)
    if (p) p.pid = undefined
    if (what === 'hung') {
      this.m.hangs.inc({ part })
      return this.set(part, 'hung', `${detail}; killed, to be restarted`)
    }
    this.m.restarts.inc({ part })
    this.set(part, 'restarting', detail)
    this.parts.get(part)!.restarts++
  }

  event(part: string, ev: PartEvent): void {
    const m = this.m
    switch (ev.event) {
      case 'heartbeat':
        return
      case 'ready':
        return this.set(part, 'ready', ev.detail)
      case 'not-ready':
        return this.set(part, 'not-ready', ev.reason)
      case 'subnet':
        if (!ev.planned) this.set(part, 'ready', `wrote ${ev.file} (subnet ${[ev.subnet, ev.ipv6Subnet].filter(Boolean).join(', ')})`)
        return
      case 'lease':
        return m.leaseExpiry.set(ev.expiry)
      case 'synced':
        m.peers.set(ev.peers)
        m.desired.set(ev.desired)
        m.present.set(ev.present)
        m.added.inc({}, ev.added)
        m.removed.inc({}, ev.removed)
        m.replaced.inc({}, ev.replaced)
        m.syncs.inc({ result: ev.ok ? 'ok' : 'error' })
        m.syncSeconds.observe(ev.seconds)
        // The first full sync makes the route syncer ready; a failed one is named, not fatal:
        // one unreachable peer gateway must not take the whole node out of service.
        if (ev.full && ev.problem) this.set(part, 'not-ready', ev.problem)
        else if (ev.full) this.set(part, 'ready', `synced: ${ev.present}/${ev.desired} ${ev.ok ? 'in place' : 'in place, some lines failed'} (${ev.peers} peers)`)
        return
      case 'repaired':
        if (ev.kind === 'rule') m.masqRepairs.inc()
        else if (ev.kind !== 'device') m.repaired.inc({ kind: ev.kind })
        return
      case 'error':
        if (ev.kind === 'registry') m.registryErrors.inc()
        else m.applyErrors.inc({ part })
        return
      case 'watch-restart':
        m.watchRestarts.inc()
        return
      case 'condition':
        m.condition.set(ev.ok ? 1 : 0, { condition: ev.kind })
        return
    }
  }

  /** The readiness verdict: ok, the first reason it is not, and every part's state. */
  readiness(): { ready: boolean; reason: string; subnetFile: { path: string; present: boolean }; parts: Record<string, PartHealth> } {
    const present = existsSync(this.subnetFile)
    const parts = Object.fromEntries(this.parts)
    let reason = ''
    if (!present) reason = `${this.subnetFile} is not written`
    for (const [name, p] of this.parts) {
      if (reason) break
      if (p.state !== 'ready') reason = `${name} is ${p.state}: ${p.detail}`
    }
    if (!this.parts.size && !reason) reason = 'no part started yet'
    this.m.ready.set(reason ? 0 : 1)
    return { ready: !reason, reason, subnetFile: { path: this.subnetFile, present }, parts }
  }

  metricsText(): string {
    this.readiness() // weft_ready follows the file on disk too
    return this.registry.render()
  }
}
