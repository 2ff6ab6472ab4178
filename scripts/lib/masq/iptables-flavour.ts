// Which iptables to drive. Hosts have the nf_tables flavour, the legacy one, or both installed;
// rules written with the wrong one are invisible to the other and to kube-proxy. `auto` decides
// as kube-proxy's iptables-wrapper does: kubelet/kube-proxy hint chains first, then whichever
// flavour already holds more rules (ties go to nft), then the flavour of plain `iptables`.
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { run } from '../core/sh.ts'
import type { Family } from '../net/cidr.ts'

export type Flavour = 'nft' | 'legacy'
export type Mode = Flavour | 'auto'

export interface IptTools {
  family: Family
  flavour: Flavour
  bin: string
  save: string
  restore: string
  version: string
  /** iptables-restore --wait and MASQUERADE --random-fully both came with 1.6.2 (flannel's test) */
  modern: boolean
}

/** The executable's path if `name` is on PATH (no process spawned). */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(':')) {
    if (!dir) continue
    const p = join(dir, name)
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {}
  }
  return undefined
}

export function parseVersion(text: string): { version: string; flavour: Flavour; modern: boolean } | undefined {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(text)
  if (!m) return undefined
  const [a, b, c] = m.slice(1, 4).map(Number)
  const modern = a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2)))
  return { version: `${a}.${b}.${c}`, flavour: /nf_tables/.test(text) ? 'nft' : 'legacy', modern }
}

const prefix = (f: Family) => (f === 4 ? 'iptables' : 'ip6tables')

/** The binaries of one flavour and family: `iptables-nft*` style names, else plain `iptables*` of that flavour. */
export async function toolsFor(flavour: Flavour, family: Family): Promise<IptTools | undefined> {
  const p = prefix(family)
  const named = [`${p}-${flavour}`, `${p}-${flavour}-save`, `${p}-${flavour}-restore`]
  const plain = [p, `${p}-save`, `${p}-restore`]
  for (const names of [named, plain]) {
    if (!names.every((n) => which(n))) continue
    const res = await run([names[0], '--version'], { nothrow: true })
    const v = parseVersion(res.stdout + res.stderr)
    if (!v || v.flavour !== flavour) continue
    return { family, flavour, bin: names[0], save: names[1], restore: names[2], version: v.version, modern: v.modern }
  }
  return undefined
}

// A whole-ruleset save (no -t): `iptables-legacy-save -t X` would instantiate an empty legacy
// table X in this netns, visibly changing what iptables-legacy-save prints afterwards.
async function ruleLines(t: IptTools | undefined): Promise<string> {
  if (!t) return ''
  const res = await run([t.save], { nothrow: true })
  return res.code === 0 ? res.stdout : ''
}

const count = (s: string) => s.split('\n').filter((l) => l.startsWith('-')).length
const HINT = /KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY/

/** Pick the flavour; `why` is for the log. Throws a clear message when no usable iptables exists. */
export async function chooseFlavour(mode: Mode): Promise<{ flavour: Flavour; why: string }> {
  const nft4 = await toolsFor('nft', 4)
  const leg4 = await toolsFor('legacy', 4)
  if (mode !== 'auto') {
    if (!(mode === 'nft' ? nft4 : leg4)) throw new Error(missingText(mode))
    return { flavour: mode, why: 'chosen with --iptables-mode' }
  }
  if (!nft4 && !leg4) throw new Error(missingText())
  if (!nft4 || !leg4) {
    const only = nft4 ? 'nft' : 'legacy'
    return { flavour: only, why: `only the ${only} flavour is installed` }
  }
  const [n4, l4] = [await ruleLines(nft4), await ruleLines(leg4)]
  if (HINT.test(n4)) return { flavour: 'nft', why: 'kubelet hint chain found in iptables-nft' }
  if (HINT.test(l4)) return { flavour: 'legacy', why: 'kubelet hint chain found in iptables-legacy' }
  const [nft6, leg6] = [await toolsFor('nft', 6), await toolsFor('legacy', 6)]
  const n = count(n4) + count(await ruleLines(nft6))
  const l = count(l4) + count(await ruleLines(leg6))
  return l > n
    ? { flavour: 'legacy', why: `legacy tables hold more rules (${l} legacy, ${n} nft)` }
    : { flavour: 'nft', why: `nft tables hold at least as many rules (${n} nft, ${l} legacy)` }
}

export function missingText(flavour?: Flavour, family: Family = 4): string {
  const p = prefix(family)
  const names = flavour ? `${p}-${flavour} or ${p} (${flavour === 'nft' ? 'nf_tables' : 'legacy'})` : `${p}-nft, ${p}-legacy or ${p}`
  return `${p} not found in PATH (looked for ${names} with its -save and -restore); install the iptables package${family === 4 ? ' or use --nftables' : ''}`
}
