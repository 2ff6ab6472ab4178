// flannel's FLANNEL-POSTRTG (nat) and FLANNEL-FWD (filter) rule sets, exactly as flanneld writes
// them (reference/flanneld.md 2.1; the golden lines of flannel's e2e/rules.go), and the
// iptables-restore payloads that install, repair and remove them. Pure: text in, text out.
import type { Cidr, Family } from '../net/cidr.ts'

export const MASQ_CHAIN = 'FLANNEL-POSTRTG'
export const FWD_CHAIN = 'FLANNEL-FWD'

/** One chain of ours, the built-in chain that jumps to it, and its rules (iptables-save form). */
export interface RuleSet {
  table: 'nat' | 'filter'
  chain: string
  /** the built-in chain holding the jump */
  hook: 'POSTROUTING' | 'FORWARD'
  /** the jump rule, without "-A <hook> " */
  jump: string
  /** the chain's rules, without "-A <chain> " */
  rules: string[]
}

const MASQ_COMMENT = '-m comment --comment "flanneld masq"'
const FWD_COMMENT = '-m comment --comment "flanneld forward"'

export function multicast(family: Family): string {
  return family === 4 ? '224.0.0.0/4' : 'ff00::/8'
}

/**
 * FLANNEL-POSTRTG: kube-proxy-marked packets are left alone (it NATs them itself; PR #1681),
 * pod<->cluster traffic keeps its addresses, everything else from the cluster leaves masqueraded.
 */
export function masqRuleSet(cluster: Cidr, pod: Cidr, randomFully: boolean): RuleSet {
  const masq = `-j MASQUERADE${randomFully ? ' --random-fully' : ''}`
  const c = cluster.text
  const p = pod.text
  return {
    table: 'nat',
    chain: MASQ_CHAIN,
    hook: 'POSTROUTING',
    jump: `${MASQ_COMMENT} -j ${MASQ_CHAIN}`,
    rules: [
      `-m mark --mark 0x4000/0x4000 ${MASQ_COMMENT} -j RETURN`,
      `-s ${p} -d ${c} ${MASQ_COMMENT} -j RETURN`,
      `-s ${c} -d ${p} ${MASQ_COMMENT} -j RETURN`,
      `! -s ${c} -d ${p} ${MASQ_COMMENT} -j RETURN`,
      `-s ${c} ! -d ${multicast(cluster.family)} ${MASQ_COMMENT} ${masq}`,
      `! -s ${c} -d ${c} ${MASQ_COMMENT} ${masq}`,
    ],
  }
}

/** FLANNEL-FWD: hosts whose FORWARD policy is DROP (Docker >= 1.13) still forward pod traffic. */
export function fwdRuleSet(cluster: Cidr): RuleSet {
  return {
    table: 'filter',
    chain: FWD_CHAIN,
    hook: 'FORWARD',
    jump: `${FWD_COMMENT} -j ${FWD_CHAIN}`,
    rules: [`-s ${cluster.text} ${FWD_COMMENT} -j ACCEPT`, `-d ${cluster.text} ${FWD_COMMENT} -j ACCEPT`],
  }
}

/** Both sets of one family, as configured (either may be off). */
export function ruleSets(o: { cluster: Cidr; pod: Cidr; ipMasq: boolean; forward: boolean; randomFully: boolean }): RuleSet[] {
  const out: RuleSet[] = []
  if (o.ipMasq) out.push(masqRuleSet(o.cluster, o.pod, o.randomFully))
  if (o.forward) out.push(fwdRuleSet(o.cluster))
  return out
}

/** A set's lines as `iptables -S CHAIN` prints them after the hook's jump line: the golden form. */
export function goldenLines(s: RuleSet): string[] {
  return [`-A ${s.hook} ${s.jump}`, `-N ${s.chain}`, ...s.rules.map((r) => `-A ${s.chain} ${r}`)]
}

/** What iptables-save says about one table: declared chains and each chain's rules, in order. */
export interface TableState {
  chains: Set<string>
  rules: Map<string, string[]>
}

/** Parse `iptables-save -t <table>` output (one table). Counters and comments are ignored. */
export function parseSave(text: string): TableState {
  const st: TableState = { chains: new Set(), rules: new Map() }
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) st.chains.add(line.slice(1).split(' ')[0])
    else if (line.startsWith('-A ')) {
      const rest = line.slice(3)
      const sp = rest.indexOf(' ')
      const chain = sp < 0 ? rest : rest.slice(0, sp)
      const rule = sp < 0 ? '' : rest.slice(sp + 1)
      if (!st.rules.has(chain)) st.rules.set(chain, [])
      st.rules.get(chain)!.push(rule)
    }
  }
  return st
}

export function jumpCount(st: TableState, s: { hook: string; jump: string }): number {
  return (st.rules.get(s.hook) ?? []).filter((r) => r === s.jump).length
}

/**
 * How the kernel differs from a set, one line per difference ([] = in place). Unlike flannel's
 * `-C` per rule, this also sees foreign, reordered or duplicated rules inside our chain.
 */
export function diffSet(st: TableState, s: RuleSet): string[] {
  const out: string[] = []
  if (!st.chains.has(s.chain)) out.push(`missing chain ${s.table}/${s.chain}`)
  const n = jumpCount(st, s)
  if (n === 0) out.push(`missing: -A ${s.hook} ${s.jump}`)
  if (n > 1) out.push(`duplicated ${n} times: -A ${s.hook} ${s.jump}`)
  const have = st.rules.get(s.chain) ?? []
  for (const r of s.rules) if (!have.includes(r)) out.push(`missing: -A ${s.chain} ${r}`)
  for (const r of have) if (!s.rules.includes(r)) out.push(`unexpected: -A ${s.chain} ${r}`)
  if (out.length === 0 && have.join('\n') !== s.rules.join('\n')) out.push(`rules of ${s.table}/${s.chain} out of order`)
  return out
}

/**
 * One iptables-restore --noflush payload installing `sets`: declaring a chain under --noflush
 * creates or flushes it (so stale rules of an old network vanish with it), every existing jump is
 * deleted and one appended (flannel's "move to the end"), then the rules. `stale` names chains of
 * ours that must go (a set switched off): flushed, unhooked, deleted.
 */
export function applyPayload(sets: RuleSet[], state: Record<string, TableState>, stale: RuleSet[] = []): string {
  let out = ''
  for (const table of ['nat', 'filter'] as const) {
    const mine = sets.filter((s) => s.table === table)
    const gone = stale.filter((s) => s.table === table && state[table]?.chains.has(s.chain))
    if (!mine.length && !gone.length) continue
    const st = state[table] ?? { chains: new Set(), rules: new Map() }
    out += `*${table}\n`
    for (const s of [...mine, ...gone]) out += `:${s.chain} - [0:0]\n`
    for (const s of [...mine, ...gone]) out += `-D ${s.hook} ${s.jump}\n`.repeat(jumpCount(st, s))
    for (const s of gone) out += `-X ${s.chain}\n`
    for (const s of mine) {
      out += `-A ${s.hook} ${s.jump}\n`
      for (const r of s.rules) out += `-A ${s.chain} ${r}\n`
    }
    out += 'COMMIT\n'
  }
  return out
}

/** The payload removing our chains and jumps where they exist ('' = nothing of ours there). */
export function removePayload(sets: RuleSet[], state: Record<string, TableState>): string {
  return applyPayload([], state, sets)
}

/** The sets `--cleanup` and mode switches look for: our chain names and jumps, whatever the network. */
export function ownedSets(): RuleSet[] {
  return [
    { table: 'nat', chain: MASQ_CHAIN, hook: 'POSTROUTING', jump: `${MASQ_COMMENT} -j ${MASQ_CHAIN}`, rules: [] },
    { table: 'filter', chain: FWD_CHAIN, hook: 'FORWARD', jump: `${FWD_COMMENT} -j ${FWD_CHAIN}`, rules: [] },
  ]
}
