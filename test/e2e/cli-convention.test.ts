// One command-line convention for every bundle but the CNI plugin (scripts/lib/core/cli.ts): -h and
// --help print usage on stdout and exit 0; a bad flag is one line "<program>: <message> (see --help)"
// on stderr, exit 2, nothing on stdout. Run against the bundles in dist/, from a foreign directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { dist } from '../helpers/scope.ts'

const BUNDLES = ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes', 'weft-install', 'weft-lab']
const run = (name: string, args: string[]) => spawnSync(process.execPath, [dist(name), ...args], { encoding: 'utf8', cwd: tmpdir(), timeout: 20000 })

for (const name of BUNDLES) {
  test(`${name}: -h and --help print usage on stdout and exit 0`, () => {
    for (const flag of ['-h', '--help', '-help']) {
      const r = run(name, [flag])
      assert.equal(r.status, 0, `${flag}: ${r.stderr}`)
      assert.match(r.stdout, new RegExp(`^Usage: ${name}`), flag)
      assert.equal(r.stderr, '', flag)
    }
  })

  test(`${name}: an unknown flag is one line "${name}: <message>" on stderr, exit 2`, () => {
    const r = run(name, ['--no-such-flag'])
    assert.equal(r.status, 2, r.stderr)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr, `${name}: flag provided but not defined: -no-such-flag (see --help)\n`)
  })

  test(`${name}: a flag without its value is a usage error too`, () => {
    const r = run(name, ['--dry-run=maybe'])
    assert.equal(r.status, 2, r.stderr)
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`^${name}: .*(invalid boolean value "maybe" for --dry-run|flag provided but not defined: -dry-run)`))
  })
}
