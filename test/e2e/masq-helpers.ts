// Shared by the masq e2e tests: run the bundle in a netns, read rules back in comparable form.
import { dist, inNs, sh, type Exec } from '../helpers/scope.ts'

export const NET = ['--network', '10.244.0.0/16', '--subnet', '10.244.1.0/24']

export function masq(ns: string, args: string[], env?: NodeJS.ProcessEnv): Exec {
  return inNs(ns, [dist('weft-masq'), ...args], { env })
}

/** iptables-save without its timestamps and counters: equal text = equal rules. */
export function saveAll(ns: string, flavour: 'nft' | 'legacy' = 'nft'): string {
  const out = inNs(ns, [`iptables-${flavour}-save`]).stdout + inNs(ns, [`ip6tables-${flavour}-save`]).stdout
  return out
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n')
}

export function nftRuleset(ns: string): string {
  return inNs(ns, ['nft', 'list', 'ruleset']).stdout
}

/** `iptables -t T -S CHAIN` lines (empty when the chain does not exist). */
export function chainS(ns: string, flavour: 'nft' | 'legacy', table: string, chain: string, v6 = false): string[] {
  const r = inNs(ns, [`${v6 ? 'ip6tables' : 'iptables'}-${flavour}`, '-t', table, '-S', chain])
  return r.code === 0 ? r.stdout.trim().split('\n') : []
}

/** Foreign rules a real host has (Docker, kube-proxy): they must survive everything we do. */
export function foreignRules(ns: string, flavour: 'nft' | 'legacy' = 'nft'): void {
  const input = `*nat
:DOCKER - [0:0]
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
COMMIT
*filter
:FORWARD DROP [0:0]
-A FORWARD -o docker0 -j ACCEPT
COMMIT
`
  const r = inNs(ns, [`iptables-${flavour}-restore`, '--noflush'], { input })
  if (r.code !== 0) throw new Error(r.stderr)
}

export function ok(r: Exec): Exec {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`)
  return r
}

export function hasNode(): boolean {
  return sh(['node', '--version']).code === 0
}
