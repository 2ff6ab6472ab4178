// The network config, re-checked while the node runs. flannel reads it once, at start; weft used
// to as well, so a config changed in etcd to one weft cannot run (an unsupported backend, an
// unusable Network, bad vxlan values) went unnoticed until the next restart, which then waited
// with the node's pods cut off from any change. Now the running subnet writer reads it every few
// seconds and, when it no longer matches the one the node runs:
//  - says so once per change (one log line, and a not-ready event: /readyz answers 503 with it);
//  - changes nothing: the lease, subnet.env, routes and rules stay as they are, so running pods
//    keep working (tearing the node down for a typo in etcd would cut them off);
//  - says it is ready again once the config is back to the running one.
// A valid but different config is not applied live either (a new Network means new subnets for
// every pod): it is named, and applied when flanneld is restarted, as flannel applies it.
import type { NetworkConfig } from '../formats/net-conf.ts'

export type ConfigRead = { cfg: NetworkConfig } | { problem: string } | { unreachable: string }

/** The fields a running node depends on, as text: what "the same config" means. */
export function configFields(c: NetworkConfig): Record<string, string> {
  const t = (x?: { text: string }) => x?.text ?? ''
  const b = c.backend
  const backend = b.type === 'vxlan' ? `vxlan VNI ${b.vni} Port ${b.port} MTU ${b.mtu} GBP ${b.gbp} Learning ${b.learning} DirectRouting ${b.directRouting}` : b.type
  return {
    Network: c.enableIPv4 ? t(c.network) : '',
    SubnetLen: c.enableIPv4 ? String(c.subnetLen) : '',
    EnableIPv4: String(c.enableIPv4),
    EnableIPv6: String(c.enableIPv6),
    IPv6Network: c.enableIPv6 ? t(c.ipv6Network) : '',
    IPv6SubnetLen: c.enableIPv6 ? String(c.ipv6SubnetLen) : '',
    EnableNFTables: String(c.enableNFTables),
    Backend: backend,
  }
}

/** What changed from the running config, as "Field old -> new; ..."; '' when nothing that matters. */
export function configChange(running: NetworkConfig, now: NetworkConfig): string {
  const a = configFields(running)
  const b = configFields(now)
  return Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .map((k) => `${k} ${a[k] || '(none)'} -> ${b[k] || '(none)'}`)
    .join('; ')
}

/** The verdict of one read: undefined when the node may say it is ready, else why not. */
export function judgeConfig(running: NetworkConfig, r: ConfigRead): string | undefined | null {
  if ('unreachable' in r) return null // no news: the registry's own paths report an outage
  if ('problem' in r)
    return `the network config changed to one weft cannot run (${r.problem}); keeping the running one (routes, rules, lease and subnet file stay as they are) until it is fixed`
  const change = configChange(running, r.cfg)
  if (!change) return undefined
  return `the network config changed (${change}); weft applies a changed config only at a restart of flanneld; keeping the running one until then`
}

export interface RecheckHooks {
  log: (m: string) => void
  /** the node is not ready, and why (once per change) */
  notReady: (reason: string) => void
  /** the config matches the running one again */
  ready: (detail: string) => void
}

/** Read every everyMs (one read at a time) until signal aborts; no timer outlives the abort. */
export function recheckConfig(read: () => Promise<ConfigRead>, running: NetworkConfig, everyMs: number, signal: AbortSignal, h: RecheckHooks): void {
  let said: string | undefined
  let timer: NodeJS.Timeout | undefined
  const next = () => {
    if (!signal.aborted) timer = setTimeout(tick, everyMs)
  }
  const tick = async () => {
    const verdict = judgeConfig(running, await read())
    if (signal.aborted) return
    if (verdict === null) return next()
    if (verdict !== said) {
      if (verdict) {
        h.log(verdict)
        h.notReady(verdict)
      } else {
        h.log('the network config is back to the one this node runs: ready again')
        h.ready('the network config is the running one again')
      }
      said = verdict
    }
    next()
  }
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
  next()
}
