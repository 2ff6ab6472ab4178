// weft-doctor's pure parts: the table, the exit code, the conflist check against a directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { table, exitCode, ok, warn, fail, skip } from '../../scripts/lib/doctor/report.ts'
import { checkConflist } from '../../scripts/lib/doctor/node.ts'

test('table: one row per check, detail and fix wrapped under their column; the summary counts', () => {
  const t = table(
    [ok('registry', 'etcd answered'), fail('routes', 'one two three four five six seven eight nine ten eleven twelve', 'weft-routes --once'), skip('lease', 'no lease')],
    40,
  )
  assert.equal(
    t,
    [
      'CHECK     STATE  DETAIL / FIX',
      'registry  ok     etcd answered',
      'routes    FAIL   one two three four five six seven eight',
      '                 nine ten eleven twelve',
      '                 fix: weft-routes --once',
      'lease     -      no lease',
      '',
      '1 failed, 0 warnings, 1 ok, 1 skipped',
      '',
    ].join('\n'),
  )
})

test('exit code: 1 only when a check failed; warnings and skips do not fail', () => {
  assert.equal(exitCode([ok('a', ''), warn('b', ''), skip('c', '')]), 0)
  assert.equal(exitCode([ok('a', ''), fail('b', '')]), 1)
})

test('conflist: the first file wins, it needs a flannel plugin, every plugin binary must be there', () => {
  const d = mkdtempSync(join(tmpdir(), 'weft-doc-'))
  try {
    const conf = join(d, 'net.d')
    const bin = join(d, 'bin')
    mkdirSync(conf)
    mkdirSync(bin)
    assert.match(checkConflist(conf, [bin]).detail, /no network config in/)
    writeFileSync(
      join(conf, '10-flannel.conflist'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'cbr0', plugins: [{ type: 'flannel', delegate: { isDefaultGateway: true } }, { type: 'portmap' }] }),
    )
    const missing = checkConflist(conf, [bin])
    assert.equal(missing.state, 'fail')
    assert.match(missing.detail, /plugin\(s\) not found in .*: host-local, flannel, bridge, portmap$/)
    for (const p of ['flannel', 'bridge', 'host-local', 'portmap']) {
      writeFileSync(join(bin, p), '#!/bin/sh\n')
      chmodSync(join(bin, p), 0o755)
    }
    assert.equal(checkConflist(conf, [bin]).state, 'ok')
    writeFileSync(join(conf, '05-other.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'bridge' }] }))
    const shadowed = checkConflist(conf, [bin])
    assert.equal(shadowed.state, 'fail')
    assert.match(shadowed.detail, /05-other\.conflist \(the runtime's first\) has no flannel plugin: bridge/)
    writeFileSync(join(conf, '05-other.conflist'), '{not json')
    assert.match(checkConflist(conf, [bin]).detail, /05-other\.conflist: .*JSON/)
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})
