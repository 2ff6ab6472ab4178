// The doctor's verdicts and how they are shown: one row per check (check, state, detail, the
// command that fixes it), as a table for a person or JSON for a script. Exit status: 0 when no
// check failed, 1 when one did (warnings do not fail: they name what may bite later).
export type State = 'ok' | 'warn' | 'fail' | 'skip'

export interface Verdict {
  check: string
  state: State
  detail: string
  /** a command (or the step) that fixes it; '' when nothing is to be done */
  fix: string
}

export const ok = (check: string, detail: string): Verdict => ({ check, state: 'ok', detail, fix: '' })
export const warn = (check: string, detail: string, fix = ''): Verdict => ({ check, state: 'warn', detail, fix })
export const fail = (check: string, detail: string, fix = ''): Verdict => ({ check, state: 'fail', detail, fix })
export const skip = (check: string, detail: string): Verdict => ({ check, state: 'skip', detail, fix: '' })

export function exitCode(vs: Verdict[]): 0 | 1 {
  return vs.some((v) => v.state === 'fail') ? 1 : 0
}

const MARK: Record<State, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: '-' }

/** Fixed columns for check and state; detail and fix wrap under their own column. */
export function table(vs: Verdict[], width = 120): string {
  const cw = Math.max(5, ...vs.map((v) => v.check.length))
  const sw = 5
  const rest = Math.max(40, width - cw - sw - 4)
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length))
  const lines = [`${pad('CHECK', cw)}  ${pad('STATE', sw)}  DETAIL / FIX`]
  for (const v of vs) {
    const body = [...wrap(v.detail, rest), ...(v.fix ? wrap(`fix: ${v.fix}`, rest) : [])]
    for (const [i, b] of body.entries()) lines.push(i === 0 ? `${pad(v.check, cw)}  ${pad(MARK[v.state], sw)}  ${b}` : `${' '.repeat(cw + sw + 4)}${b}`)
  }
  const n = (s: State) => vs.filter((v) => v.state === s).length
  lines.push('', `${n('fail')} failed, ${n('warn')} warnings, ${n('ok')} ok${n('skip') ? `, ${n('skip')} skipped` : ''}`)
  return lines.join('\n') + '\n'
}

function wrap(s: string, width: number): string[] {
  const out: string[] = []
  for (const para of s.split('\n')) {
    let line = ''
    for (const word of para.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line)
        line = word
      } else line = line ? `${line} ${word}` : word
    }
    out.push(line)
  }
  return out
}
