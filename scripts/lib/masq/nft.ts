// flannel's nftables mode (reference/flanneld.md 2.4): tables `ip flannel-ipv4` / `ip6
// flannel-ipv6` with a `postrtg` (nat) and a `forward` (filter) base chain. Pure text builders for
// the one `nft -f -` transaction that replaces a table, the fully-random probe and the removal.
import type { Cidr, Family } from '../net/cidr.ts'
import { multicast } from './rules.ts'

export interface NftFamilyConf {
  family: Family
  cluster: Cidr
  pod: Cidr
}

export interface NftOpts {
  ipMasq: boolean
  forward: boolean
  randomFully: boolean
}

export function nftFamily(f: Family): 'ip' | 'ip6' {
  return f === 4 ? 'ip' : 'ip6'
}

export function tableName(f: Family): string {
  return f === 4 ? 'flannel-ipv4' : 'flannel-ipv6'
}

/** The table's full definition, as knftables builds it for flannel (comments, priorities, rule 4's `saddr != pod`). */
export function tableBody(c: NftFamilyConf, o: NftOpts): string {
  const ip = nftFamily(c.family)
  const cl = c.cluster.text
  const pod = c.pod.text
  const masq = `masquerade${o.randomFully ? ' fully-random' : ''}`
  const lines = [`table ${ip} ${tableName(c.family)} {`, `\tcomment "rules for ${tableName(c.family)}"`]
  if (o.ipMasq) {
    lines.push(
      '\tchain postrtg {',
      '\t\tcomment "chain to manage traffic masquerading by flannel"',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      // flannel writes an exact match on 0x4000 (no mask), unlike its iptables rule.
      '\t\tmeta mark 0x4000 return',
      `\t\t${ip} saddr ${pod} ${ip} daddr ${cl} return`,
      `\t\t${ip} saddr ${cl} ${ip} daddr ${pod} return`,
      // Kept byte-compatible with flannel: `saddr != pod`, where iptables has `! -s cluster`.
      `\t\t${ip} saddr != ${pod} ${ip} daddr ${cl} return`,
      `\t\t${ip} saddr ${cl} ${ip} daddr != ${multicast(c.family)} ${masq}`,
      `\t\t${ip} saddr != ${cl} ${ip} daddr ${cl} ${masq}`,
      '\t}',
    )
  }
  if (o.forward) {
    lines.push(
      '\tchain forward {',
      '\t\tcomment "chain to accept flannel traffic"',
      '\t\ttype filter hook forward priority filter; policy accept;',
      `\t\t${ip} saddr ${cl} accept`,
      `\t\t${ip} daddr ${cl} accept`,
      '\t}',
    )
  }
  lines.push('}')
  return lines.join('\n') + '\n'
}

/**
 * One transaction replacing our tables: `table X {}` (a no-op when it exists) makes the following
 * `delete table X` safe on a fresh host, and the new definition goes in atomically with it. A
 * family not configured any more has its old table deleted in the same transaction.
 */
export function replaceScript(confs: NftFamilyConf[], o: NftOpts, drop: Family[] = []): string {
  let s = ''
  for (const c of confs) {
    s += `table ${nftFamily(c.family)} ${tableName(c.family)} {}\n`
    s += `delete table ${nftFamily(c.family)} ${tableName(c.family)}\n`
    s += tableBody(c, o)
  }
  for (const f of drop) s += `delete table ${nftFamily(f)} ${tableName(f)}\n`
  return s
}

/** Deletes the given existing tables of ours ('' when none). */
export function deleteScript(existing: Family[]): string {
  return existing.map((f) => `delete table ${nftFamily(f)} ${tableName(f)}\n`).join('')
}

/** For `nft --check -f -`: does this kernel/nft accept `masquerade fully-random`? (flannel's probe) */
export function probeScript(f: Family): string {
  const t = `${nftFamily(f)} ${tableName(f)}`
  return `add table ${t}\nadd chain ${t} masqueradeTest { type nat hook postrouting priority srcnat; }\nadd rule ${t} masqueradeTest masquerade fully-random\n`
}

/** `nft list tables` output -> which of our tables exist. */
export function ourTables(listTables: string): Family[] {
  const out: Family[] = []
  for (const line of listTables.split('\n')) {
    const t = line.trim()
    if (t === 'table ip flannel-ipv4') out.push(4)
    if (t === 'table ip6 flannel-ipv6') out.push(6)
  }
  return out
}
