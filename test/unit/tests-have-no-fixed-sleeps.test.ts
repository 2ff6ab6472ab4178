// A guard: no fixed sleep in test/unit or test/e2e. A test that sleeps N ms and then looks once
// passes or fails with the machine's load (one such test failed on a fresh machine and passed
// alone). Tests wait through test/helpers/wait.ts instead: waitFor (until X, with a deadline),
// holdsFor (X for a whole window), within (a deadline on a promise), untilPrinted, timersBackTo;
// unit tests of timer-driven code use node:test's mock.timers. Those helpers are the only place
// real timers may be set; anywhere else a timer needs `// allow-timer: <why>` on its line.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { root } from '../helpers/scope.ts'

const DIRS = ['test/unit', 'test/e2e']
// This file quotes sleeps on purpose (the samples below): the one file left out of the scan.
const SELF = relative(root, new URL(import.meta.url).pathname)

// What counts as a sleep or a hand-made timer (method calls such as socket.setTimeout(ms) are not).
const SLEEPS: [RegExp, string][] = [
  [/(?<![.\w$])setTimeout\s*\(/, 'setTimeout'],
  [/(?<![.\w$])setInterval\s*\(/, 'setInterval'],
  [/(?<![.\w$])sleep\s*[(=]/, 'a sleep function'],
  [/\btimers\/promises\b/, 'node:timers/promises'],
  [/\bAtomics\.wait\s*\(/, 'Atomics.wait'],
  [/\bsleep \d/, 'a shell sleep'],
]
const ALLOW = /\/\/ allow-timer: \S/

/** The offending lines of one file's text: [line number, what, the line]. */
export function fixedSleeps(text: string): [number, string, string][] {
  const out: [number, string, string][] = []
  text.split('\n').forEach((line, i) => {
    const code = line.trim()
    if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return
    if (ALLOW.test(line)) return
    for (const [re, what] of SLEEPS) {
      if (re.test(line)) {
        out.push([i + 1, what, code])
        break
      }
    }
  })
  return out
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
}

test('no test in test/unit or test/e2e sleeps for a fixed time (or sets a timer without saying why)', () => {
  const found: string[] = []
  for (const d of DIRS) {
    for (const f of tsFiles(join(root, d)).filter((f) => relative(root, f) !== SELF)) {
      for (const [n, what, line] of fixedSleeps(readFileSync(f, 'utf8'))) found.push(`${relative(root, f)}:${n}: ${what}: ${line}`)
    }
  }
  assert.deepEqual(
    found,
    [],
    `fixed sleeps (wait for a condition with test/helpers/wait.ts instead, or mark a timer that is not a wait with "// allow-timer: <why>"):\n${found.join('\n')}`,
  )
})

test('the guard itself: what it catches and what it lets through', () => {
  const caught = [
    'await new Promise((r) => setTimeout(r, 300))',
    "  setTimeout(() => void c.put('/w/c', '3'), 200)",
    'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))',
    '  await sleep(150)',
    'const t = setInterval(poll, 100)',
    "import { setTimeout as delay } from 'node:timers/promises'",
    'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)',
    "sh(['sh', '-c', 'sleep 1; ip link'])",
    '  setTimeout(r, 5) // allow-timer:',
  ]
  for (const line of caught) assert.equal(fixedSleeps(line).length, 1, `not caught: ${line}`)
  const passed = [
    "s.setTimeout(1500,()=>{console.log('TIMEOUT')})",
    "    setTimeout(() => res.end('x'), 100) // allow-timer: the fake server's slow reply",
    '  // a comment may say setTimeout(r, 300) was here',
    "t.mock.timers.enable({ apis: ['setTimeout'] })",
    "const bystander = scope.spawn(['sleep', '300'])",
    "await holdsFor('routes stay', check, 10000)",
  ]
  for (const line of passed) assert.deepEqual(fixedSleeps(line), [], `flagged: ${line}`)
  assert.deepEqual(fixedSleeps('ok\n\nawait sleep(1)\n'), [[3, 'a sleep function', 'await sleep(1)']], 'names the line')
})
