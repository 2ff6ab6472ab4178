// The host-gw route plan: desired routes (one per valid peer lease) against the routes the kernel
// holds inside the cluster network, as the text of one `ip -batch -`. Pure: the kernel is read and
// written in route-kernel.ts, the registry in route-peers.ts.
//
// Which kernel routes are ours to change ("managed"): main table, destination inside a cluster
// network, not overlapping our own subnet, and with a gateway (`via`, or multipath nexthops).
// Routes without a gateway inside the network (the bridge route `10.244.1.0/24 dev cni0 proto
// kernel`, a blackhole, a device route someone added) are never deleted; a desired destination
// is still written with `route replace`, which takes its place, as flannel's RouteAdd would fail.
import { containsCidr, overlaps, parseCidr, parseIp, type Cidr, type Family, type Ip } from '../../net/cidr.ts'

export interface DesiredRoute {
  dst: Cidr
  gateway: Ip
}

export interface KernelRoute {
  dst: Cidr
  gateway?: Ip
  dev?: string
  metric: number
  /** a multipath route (nexthops): never what we write */
  multipath: boolean
  /** "unicast" unless ip says otherwise (blackhole, unreachable, local, ...) */
  type: string
}

export interface Scope {
  /** cluster networks (v4 and/or v6): nothing outside them is ever touched */
  networks: Cidr[]
  /** our own subnet(s): never touched */
  own: Cidr[]
  /** only routes through this device (vxlan DirectRouting: the overlay's routes are not ours) */
  dev?: string
}

export interface RoutePlan {
  /** `ip -batch` text, one command a line; '' when the kernel already matches */
  batch: string
  added: number
  replaced: number
  removed: number
  unchanged: number
  /** blackhole routes of our own subnets added (--ip-blackhole-route) */
  blackholes?: number
}

/** The metric the kernel gives a route added without one: 0 for IPv4, 1024 for IPv6. */
export function defaultMetric(f: Family): number {
  return f === 4 ? 0 : 1024
}

/**
 * Parse `ip -j -4|-6 route show table main`. Entries we cannot read (odd destinations) are
 * skipped: they cannot be inside the network as far as we can tell, so they are left alone.
 */
export function parseKernelRoutes(json: unknown, family: Family): KernelRoute[] {
  if (!Array.isArray(json)) throw new Error('ip -j route show: expected a JSON array')
  const out: KernelRoute[] = []
  for (const r of json as Record<string, unknown>[]) {
    if (!r || typeof r !== 'object' || typeof r.dst !== 'string' || r.dst === 'default') continue
    let dst: Cidr
    try {
      dst = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`)
    } catch {
      continue
    }
    if (dst.family !== family) continue
    let gateway: Ip | undefined
    if (typeof r.gateway === 'string') {
      try {
        gateway = parseIp(r.gateway)
      } catch {}
    }
    out.push({
      dst,
      gateway,
      dev: typeof r.dev === 'string' ? r.dev : undefined,
      metric: typeof r.metric === 'number' ? r.metric : defaultMetric(family),
      multipath: Array.isArray(r.nexthops),
      type: typeof r.type === 'string' ? r.type : 'unicast',
    })
  }
  return out
}

/** The kernel routes this syncer owns (see the header comment). */
export function managedRoutes(routes: readonly KernelRoute[], scope: Scope): KernelRoute[] {
  return routes.filter(
    (r) =>
      (r.gateway !== undefined || r.multipath) &&
      r.type === 'unicast' &&
      (scope.dev === undefined || r.dev === scope.dev) &&
      scope.networks.some((n) => containsCidr(n, r.dst)) &&
      !scope.own.some((o) => overlaps(o, r.dst)),
  )
}

const cmp = (a: Cidr, b: Cidr) => a.family - b.family || (a.net < b.net ? -1 : a.net > b.net ? 1 : a.prefix - b.prefix)

/**
 * Diff desired against the managed kernel routes (already filtered by managedRoutes). A route
 * is keyed by destination and metric, as the kernel keys it: `route replace` overwrites the
 * route with the same key in place; any other managed route at a destination is deleted.
 * Deletions come first so a batch never leaves a stale route shadowing a fresh one.
 */
export function planRoutes(desired: readonly DesiredRoute[], managed: readonly KernelRoute[], iface: string): RoutePlan {
  const want = new Map<string, DesiredRoute>()
  for (const d of desired) if (!want.has(d.dst.text)) want.set(d.dst.text, d)
  const del: KernelRoute[] = []
  const atKey = new Map<string, KernelRoute>()
  for (const r of managed) {
    const d = want.get(r.dst.text)
    if (d && r.metric === defaultMetric(r.dst.family) && !atKey.has(r.dst.text)) atKey.set(r.dst.text, r)
    else del.push(r)
  }
  const plan: RoutePlan = { batch: '', added: 0, replaced: 0, removed: del.length, unchanged: 0 }
  const lines: string[] = []
  for (const r of del.sort((a, b) => cmp(a.dst, b.dst) || a.metric - b.metric)) lines.push(delLine(r))
  for (const d of [...want.values()].sort((a, b) => cmp(a.dst, b.dst))) {
    const cur = atKey.get(d.dst.text)
    if (cur && !cur.multipath && cur.gateway?.text === d.gateway.text && cur.dev === iface) {
      plan.unchanged++
      continue
    }
    if (cur) plan.replaced++
    else plan.added++
    lines.push(`route replace ${d.dst.text} via ${d.gateway.text} dev ${iface}`)
  }
  plan.batch = lines.map((l) => l + '\n').join('')
  return plan
}

function delLine(r: KernelRoute): string {
  let s = `route del ${r.dst.text}`
  if (!r.multipath && r.gateway) s += ` via ${r.gateway.text}`
  if (!r.multipath && r.dev) s += ` dev ${r.dev}`
  if (r.metric !== 0) s += ` metric ${r.metric}`
  return s
}

/** "3 added, 1 replaced, 2 removed" for the one log line per applied batch. */
export function planSummary(p: RoutePlan): string {
  return `${p.added} added, ${p.replaced} replaced, ${p.removed} removed${p.blackholes ? `, ${p.blackholes} blackhole route${p.blackholes > 1 ? 's' : ''} added` : ''}`
}
