// LICENSE and the third-party notices: the notice names every package esbuild put into a bundle,
// with its licence text, and is the same bytes each time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync, cpSync, symlinkSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
// @ts-expect-error: a plain .mjs tool without types
import { noticesText } from '../../tools/notices.mjs'

async function metafileOf(entry: string) {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    metafile: true,
    logLevel: 'silent',
    define: { 'import.meta.url': 'undefined' },
  })
  return r.metafile
}

test('LICENSE is the Apache License 2.0 that package.json names', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
  assert.equal(pkg.license, 'Apache-2.0')
  const text = readFileSync('LICENSE', 'utf8')
  assert.match(text, /Apache License\s+Version 2\.0, January 2004/)
  assert.match(text, /END OF TERMS AND CONDITIONS/)
})

test('notices name zx, ip-num and what zx vendors, each with licence text; deterministic', async () => {
  const builds = [{ bundle: 'flanneld', metafile: await metafileOf('scripts/flanneld.ts') }]
  const a = noticesText(builds)
  assert.equal(noticesText(builds), a)
  for (const [name, licence] of [
    ['zx', 'Apache-2.0'],
    ['ip-num', 'MIT'],
    ['which', 'ISC'],
    ['isexe', 'ISC'],
    ['chalk', 'MIT'],
    ['zurk', 'MIT'],
    ['@webpod/ps', 'MIT'],
    ['@webpod/ingrid', 'MIT'],
  ]) {
    assert.match(a, new RegExp(`^${name.replace('/', '\\/')} .*\\(${licence}\\)`, 'm'), `${name} (${licence}) named`)
  }
  assert.match(a, /Copyright \(c\) 2017 dadepo/) // ip-num's own LICENSE file
  assert.match(a, /Apache License\s+Version 2\.0/) // zx's
  assert.doesNotMatch(a, /\/work\/|node_modules\/\.\./, 'no absolute or machine paths')
})

test('the CNI plugin bundles no third-party code: its notice is empty of packages', async () => {
  const a = noticesText([{ bundle: 'flannel', metafile: await metafileOf('scripts/flannel.ts') }])
  assert.doesNotMatch(a, /^in: /m)
})

test('a bundled package without a licence file fails the build', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-notices-'))
  try {
    mkdirSync(join(dir, 'node_modules', 'nolicence'), { recursive: true })
    writeFileSync(join(dir, 'node_modules', 'nolicence', 'package.json'), '{"name":"nolicence","version":"1.0.0","license":"MIT"}')
    const path = join(dir, 'node_modules', 'nolicence', 'index.js')
    writeFileSync(path, 'module.exports = 1\n')
    const metafile = { outputs: { 'x.js': { inputs: { [path]: { bytesInOutput: 10 } } } } }
    assert.throws(() => noticesText([{ bundle: 'x', metafile }]), /no licence file in .*nolicence/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('node build.mjs --check fails on a stale or missing notice file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-notices-'))
  try {
    for (const f of ['scripts', 'tools', 'dist', 'build.mjs', 'package.json', 'tsconfig.json', 'test/helpers']) cpSync(f, join(dir, f), { recursive: true })
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'))
    const check = () => spawnSync(process.execPath, ['build.mjs', '--check'], { cwd: dir, encoding: 'utf8' })
    assert.equal(check().status, 0, 'fresh dist/ passes')
    writeFileSync(join(dir, 'dist', 'THIRD-PARTY-NOTICES'), 'edited\n')
    let r = check()
    assert.equal(r.status, 1)
    assert.match(r.stderr, /dist\/ is stale .*dist\/THIRD-PARTY-NOTICES/)
    rmSync(join(dir, 'dist', 'THIRD-PARTY-NOTICES'))
    r = check()
    assert.equal(r.status, 1)
    assert.match(r.stderr, /dist\/THIRD-PARTY-NOTICES/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
