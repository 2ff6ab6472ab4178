// weft-masq: flannel's masquerade and forward rules (FLANNEL-POSTRTG in nat, FLANNEL-FWD in
// filter, or the nftables tables flannel-ipv4/flannel-ipv6), installed in one batch, kept in
// place by a resync loop, removed by --cleanup. Run alone or by flanneld (reference/flanneld.md 2).
import type { Family } from './lib/net/cidr.ts'
import { helpText } from './lib/core/flags.ts'
import { runMain } from './lib/core/cli.ts'
import { debug, errText, log, warn } from './lib/core/log.ts'
import { exitWithSupervisor, holdLock } from './lib/core/part-guard.ts'
import { applyPlan, type Step } from './lib/core/plan.ts'
import { loadConfig, spec, InputError, type MasqConfig } from './lib/masq/config.ts'
import { chooseFlavour, missingText, toolsFor, which, type Flavour, type IptTools } from './lib/masq/iptables-flavour.ts'
import { applyStep, differences, readState, removeStep } from './lib/masq/ipt.ts'
import { deleteScript, replaceScript } from './lib/masq/nft.ts'
import { existingTables, fullyRandomWorks, listTable, listingDiff } from './lib/masq/nftctl.ts'
import { ruleSets } from './lib/masq/rules.ts'
import { emit, startHeartbeat } from './lib/daemon/events.ts'

const SUMMARY = `Installs flannel's masquerade (FLANNEL-POSTRTG) and forward (FLANNEL-FWD) rules for this
node's pod subnet, with iptables (nf_tables or legacy flavour) or nftables, and re-applies them
whenever one goes missing. Without --network/--subnet the values come from --subnet-file.`

/** A mode: how to bring the kernel in line, and how to tell what differs from it. */
interface Engine {
  plan(): Promise<Step[]>
  check(): Promise<string[]>
  /** called after a plan was applied */
  applied(): Promise<void>
}

async function main(): Promise<void> {
  const cfg = loadConfig(process.argv.slice(2))
  if (cfg.help) return void process.stdout.write(helpText('weft-masq [flags]', SUMMARY, spec, 'FLANNELD_'))
  startHeartbeat()

  if (cfg.cleanup) {
    const plan = await cleanupPlan(cfg)
    await applyPlan(plan, cfg.dryRun)
    if (!cfg.dryRun) log(plan.length ? `removed flannel's chains, jumps and tables (${plan.length} batch(es))` : 'nothing of ours to remove')
    return
  }

  // One copy per node, gone with its flanneld (issue 13 item 6); a one-shot or a dry run is neither.
  if (!cfg.dryRun && !cfg.once) {
    holdLock('weft-masq', cfg.subnetFile)
    exitWithSupervisor(log)
  }
  for (const f of cfg.families) log(`IPv${f.family}: network ${f.cluster.text}, subnet ${f.pod.text} (from ${cfg.source}); ip-masq ${cfg.ipMasq}, forward rules ${cfg.forward}`)
  logRecycling(cfg)
  // Leftovers of the other mode go first (flannel: the unused mode is wiped at start, 2.5).
  const leftovers = cfg.nftables ? await iptablesLeftovers(cfg) : await nftLeftovers()
  const engine = cfg.nftables ? await nftEngine(cfg) : await iptablesEngine(cfg)
  const before = await engine.check()
  if (before.length && before.every((d) => /missing/.test(d))) log('installing the rules (none of them in place yet)')
  else if (before.length) log(`replacing stale rules: ${before.join('; ')}`)
  else log('rules already in place; re-applying them, as flanneld does at start')
  await applyPlan([...leftovers, ...(await engine.plan())], cfg.dryRun)
  if (cfg.dryRun) return
  await engine.applied()
  log('rules in place')
  emit({ event: 'ready', detail: `rules in place (${cfg.nftables ? 'nftables' : 'iptables'}; ${familiesText(cfg)})` })
  if (cfg.once) return

  const stop = () => {
    log('exiting; rules stay in place (as flanneld leaves them)')
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  for (;;) {
    await new Promise((r) => setTimeout(r, cfg.resyncSeconds * 1000))
    try {
      const diffs = [...reloadSubnetFile(cfg), ...(await engine.check())]
      if (!diffs.length) {
        debug('resync: every rule in place')
        continue
      }
      log(`some rules are missing or changed; re-applying the whole set: ${diffs.join('; ')}`)
      await applyPlan(await engine.plan())
      await engine.applied()
      emit({ event: 'repaired', kind: 'rule', what: `${cfg.nftables ? 'nftables tables' : 'FLANNEL-POSTRTG/FLANNEL-FWD rules'} (${familiesText(cfg)})`, why: diffs.join('; ') })
      emit({ event: 'ready', detail: `rules in place again (${diffs.length} difference(s) repaired)` })
    } catch (e) {
      warn(`resync failed: ${errText(e)}`)
      emit({ event: 'error', kind: 'apply', message: `resync failed: ${errText(e)}` })
      emit({ event: 'not-ready', reason: `rules could not be re-applied: ${errText(e)}` })
    }
  }
}

const familiesText = (c: MasqConfig) => c.families.map((f) => `${f.cluster.text} ${f.pod.text}`).join(', ')

/**
 * Alone and reading subnet.env, a rewritten file (a new lease) is picked up at the next resync:
 * the old values become the previous ones and the whole set is replaced. A file that turns
 * unreadable or invalid keeps the rules as they are.
 */
function reloadSubnetFile(cfg: MasqConfig): string[] {
  if (cfg.source === 'flags') return []
  let next: MasqConfig
  try {
    next = loadConfig(process.argv.slice(2))
  } catch (e) {
    warn(`keeping the current rules: ${errText(e)}`)
    return []
  }
  if (familiesText(next) === familiesText(cfg) && next.ipMasq === cfg.ipMasq) return []
  const change = `${cfg.source} changed (${familiesText(cfg)} -> ${familiesText(next)}, ip-masq ${next.ipMasq})`
  next.prev = cfg.families
  cfg.prev = cfg.families
  cfg.families = next.families
  cfg.ipMasq = next.ipMasq
  logRecycling(cfg)
  return [change]
}

function logRecycling(cfg: MasqConfig): void {
  for (const p of cfg.prev) {
    const now = cfg.families.find((f) => f.family === p.family)
    if (now && now.cluster.text === p.cluster.text && now.pod.text === p.pod.text) continue
    const to = now ? `${now.cluster.text} ${now.pod.text}` : 'none'
    log(`recycling IPv${p.family}: network/subnet changed (${p.cluster.text} ${p.pod.text} -> ${to}); the old rules are removed with the chains they live in`)
  }
}

async function iptablesEngine(cfg: MasqConfig): Promise<Engine> {
  const { flavour, why } = await chooseFlavour(cfg.iptablesMode)
  const tools: IptTools[] = []
  for (const fam of [4, 6] as Family[]) {
    const t = await toolsFor(flavour, fam)
    if (t) tools.push(t)
    else if (cfg.families.some((f) => f.family === fam)) throw new InputError(missingText(flavour, fam))
  }
  const t4 = tools[0]
  log(`iptables: using ${t4.bin} ${t4.version} (${flavour === 'nft' ? 'nf_tables' : 'legacy'}): ${why}`)
  const randomFully = !cfg.fullyRandomDisabled && t4.modern
  if (!randomFully) log(`--random-fully off (${cfg.fullyRandomDisabled ? '--ip-masq-fully-random-disable' : `iptables ${t4.version} < 1.6.2`})`)
  // A family that is not configured still gets its stale chains removed (empty desired set).
  const desired = (t: IptTools) => {
    const f = cfg.families.find((x) => x.family === t.family)
    return f ? ruleSets({ ...f, ipMasq: cfg.ipMasq, forward: cfg.forward, randomFully }) : []
  }
  return {
    async plan() {
      const steps: Step[] = []
      for (const t of tools) {
        const s = applyStep(t, desired(t), await readState(t))
        if (s) steps.push(s)
      }
      return steps
    },
    async check() {
      const out: string[] = []
      for (const t of tools) out.push(...differences(t, desired(t), await readState(t)))
      return out
    },
    async applied() {},
  }
}

async function nftEngine(cfg: MasqConfig): Promise<Engine> {
  if (!which('nft')) throw new InputError('nft not found in PATH; install the nftables package or run without --nftables')
  const randomFully = !cfg.fullyRandomDisabled && (await fullyRandomWorks())
  log(`nftables: tables ${cfg.families.map((f) => (f.family === 4 ? 'ip flannel-ipv4' : 'ip6 flannel-ipv6')).join(', ')}; fully-random ${randomFully ? 'on' : 'off'}`)
  // read at each call: a changed subnet.env swaps cfg.families under a running loop
  const fams = () => cfg.families.map((f) => f.family)
  let installed = new Map<Family, string>()
  return {
    async plan() {
      const drop = (await existingTables()).filter((f) => !fams().includes(f))
      return [{ argv: ['nft', '-f', '-'], input: replaceScript(cfg.families, { ipMasq: cfg.ipMasq, forward: cfg.forward, randomFully }, drop) }]
    },
    async check() {
      // flannel never resyncs nft; we compare with the listing read right after our last apply.
      if (!installed.size) {
        const have = await existingTables()
        return fams().map((f) =>
          have.includes(f)
            ? `nftables: table ${f === 4 ? 'ip flannel-ipv4' : 'ip6 flannel-ipv6'} present, replacing it`
            : `missing table ${f === 4 ? 'ip flannel-ipv4' : 'ip6 flannel-ipv6'}`,
        )
      }
      const out: string[] = []
      for (const [f, want] of installed) out.push(...listingDiff(f, want, await listTable(f)))
      return out
    },
    async applied() {
      installed = new Map()
      for (const f of fams()) installed.set(f, (await listTable(f)) ?? '')
    },
  }
}

/** iptables-mode start: flannel's nft tables, if any, are deleted. */
async function nftLeftovers(): Promise<Step[]> {
  if (!which('nft')) return []
  const script = deleteScript(await existingTables())
  return script ? [{ argv: ['nft', '-f', '-'], input: script }] : []
}

/**
 * nft-mode start: our iptables chains and their jumps, in nat AND filter, both families, both
 * flavours. (flannel flushes FLANNEL-FWD in nat, where it never is, and keeps the jumps, so its
 * chain deletes fail and the old rules stay active; see docs/masq.md.)
 */
async function iptablesLeftovers(_cfg: MasqConfig): Promise<Step[]> {
  const steps: Step[] = []
  for (const flavour of ['nft', 'legacy'] as Flavour[]) {
    for (const fam of [4, 6] as Family[]) {
      const t = await toolsFor(flavour, fam)
      if (!t) continue
      const s = removeStep(t, await readState(t))
      if (s) steps.push(s)
    }
  }
  return steps
}

async function cleanupPlan(cfg: MasqConfig): Promise<Step[]> {
  return [...(await iptablesLeftovers(cfg)), ...(await nftLeftovers())]
}

runMain('weft-masq', main)
