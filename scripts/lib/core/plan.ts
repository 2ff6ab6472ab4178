// Plan as data, applied in one batch per tool, printed by --dry-run: the one shape every part's
// change to the node takes (the masquerade rules, the vxlan device, the peer routes and entries).
// A plan is a list of steps, each a command and, for batch tools (ip -batch -, bridge -batch -,
// iptables-restore, nft -f -), its stdin. Two ways to apply: applyPlan stops at the first failing
// step and throws (a set-up that must be whole); applyKeepGoing runs every step and returns what
// failed (the route syncer: one bad peer never holds back the others; the next resync retries).
import { run, cmdline, type Argv, type RunResult } from './sh.ts'

/** One step of a plan: a command and, for batch tools, its stdin. */
export interface Step {
  argv: Argv
  input?: string
}

export interface Plan {
  steps: Step[]
}

/** The text --dry-run prints for a plan: each command, then its stdin indented under it. */
export function showPlan(plan: readonly Step[]): string {
  return plan
    .map((s) => {
      const head = cmdline(s.argv)
      if (!s.input) return head + '\n'
      const body = s.input.endsWith('\n') ? s.input : s.input + '\n'
      return `${head} <<'EOF'\n${body}EOF\n`
    })
    .join('')
}

/** Apply a plan in order, stopping at the first failure; or print it when dryRun. */
export async function applyPlan(plan: readonly Step[], dryRun = false): Promise<void> {
  if (dryRun) {
    process.stdout.write(showPlan(plan))
    return
  }
  for (const s of plan) await run(s.argv, { input: s.input })
}

/**
 * Apply every step, in order, whatever fails; '' when all went in, else each failed step's
 * command line and the first lines of its complaint, joined by ' | '. `first` runs the first
 * step's stdin through a process already started for it (startPiped).
 */
export async function applyKeepGoing(plan: readonly Step[], first?: (input: string) => Promise<RunResult>): Promise<string> {
  const errs: string[] = []
  for (const [i, s] of plan.entries()) {
    const res = i === 0 && first ? await first(s.input ?? '') : await run(s.argv, { input: s.input, nothrow: true })
    if (res.code !== 0) errs.push(stepError(s, res))
  }
  return errs.join(' | ')
}

/** "<command line>: <first lines of stderr>" for a step that failed. */
export function stepError(s: Step, res: RunResult): string {
  return `${cmdline(s.argv)}: ${res.stderr.trim().split('\n').slice(0, 6).join('; ') || `exit status ${res.code}`}`
}
