// The exit codes and lines the one CLI wrapper (scripts/lib/core/cli.ts) maps errors to.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { describeFailure, FatalError, UsageError, fail } from '../../scripts/lib/core/cli.ts'
import { parseFlags } from '../../scripts/lib/core/flags.ts'

test('a usage error: exit 2, one line naming the program, pointing at --help', () => {
  assert.deepEqual(describeFailure('weft-x', new UsageError('flag provided but not defined: -y')), { code: 2, line: 'weft-x: flag provided but not defined: -y (see --help)' })
})

test('a runtime failure: exit 1 (or the FatalError code), one line, no stack', () => {
  assert.deepEqual(describeFailure('weft-x', new Error('boom')), { code: 1, line: 'weft-x: error: boom' })
  assert.deepEqual(describeFailure('weft-x', new FatalError('gone', 3)), { code: 3, line: 'weft-x: error: gone' })
  assert.deepEqual(describeFailure('weft-x', 'a string'), { code: 1, line: 'weft-x: error: a string' })
  assert.throws(
    () => fail('no'),
    (e) => e instanceof FatalError && e.code === 1 && e.message === 'no',
  )
})

test('-h means --help where the spec has --help, and is unknown elsewhere', () => {
  const spec = { help: { type: 'bool' as const, help: 'usage' } }
  assert.equal(parseFlags(['-h'], spec).help, true)
  assert.throws(() => parseFlags(['-h'], { x: { type: 'bool' as const, help: '' } }), /flag provided but not defined: -h/)
})
