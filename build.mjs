#!/usr/bin/env node
// Bundles every scripts/*.ts into its own executable single file dist/<name>.
// CommonJS (an extensionless ESM file under a "type":"commonjs" package.json exits 0 without
// running; see ../shared/reference/zx-and-bundling.md), node shebang, mode 0755, no timestamps,
// no absolute paths: the same sources always give the same bytes, so CI can check dist/ is fresh.
import { build } from 'esbuild'
import { readdirSync, chmodSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { join, basename } from 'node:path'
import { noticesText, NOTICES_FILE } from './tools/notices.mjs'

const check = process.argv.includes('--check')
const stale = []
const entries = readdirSync('scripts')
  .filter((f) => f.endsWith('.ts'))
  .sort()
const wanted = new Set(entries.map((f) => basename(f, '.ts')))
// The bundles are CommonJS; the repository's own package.json says "module" for the TS sources.
wanted.add('package.json')
wanted.add(NOTICES_FILE)
const metafiles = []
const ESM_REQUIRE = `(id) => { if (!process.getBuiltinModule) throw new Error('this bundle sits under a "type": "module" package.json: that needs Node >= 20.16'); return process.getBuiltinModule(id) }`
const distPkg = '{ "type": "commonjs" }\n'
if (!check) writeFileSync(join('dist', 'package.json'), distPkg)
else if (!existsSync('dist/package.json') || readFileSync('dist/package.json', 'utf8') !== distPkg) stale.push('dist/package.json')

for (const f of entries) {
  const name = basename(f, '.ts')
  const out = join('dist', name)
  const res = await build({
    entryPoints: [join('scripts', f)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    metafile: true,
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
    banner: { js: '#!/usr/bin/env node' },
    // A bundle has a real `require`; import.meta only appears on the ESM sources' path (cidr.ts).
    define: { 'import.meta.url': 'undefined' },
  })
  metafiles.push({ bundle: name, metafile: res.metafile })
  // Wrapped so the same bytes run as CommonJS and as an ES module: Node reads an extensionless
  // file as ESM when the nearest package.json says "type": "module" (a bundle copied into such a
  // tree printed its source and died on `require`). Under ESM `require` comes from
  // process.getBuiltinModule (Node >= 20.16): the bundles require nothing but Node's built-ins.
  const body = res.outputFiles[0].text.replace(/^#!.*\n/, '')
  const code = `#!/usr/bin/env node\n(function (require) {\n${body}})(typeof require === 'function' ? require : ${ESM_REQUIRE});\n`
  const old = existsSync(out) ? readFileSync(out, 'utf8') : null
  if (old !== code) {
    if (check) stale.push(out)
    else writeFileSync(out, code)
  }
  if (!check) chmodSync(out, 0o755)
}
// The licences of the code the bundles contain ship beside them (tools/notices.mjs).
const notices = noticesText(metafiles)
const noticesPath = join('dist', NOTICES_FILE)
if ((existsSync(noticesPath) ? readFileSync(noticesPath, 'utf8') : null) !== notices) {
  if (check) stale.push(noticesPath)
  else writeFileSync(noticesPath, notices)
}
for (const f of existsSync('dist') ? readdirSync('dist') : []) {
  if (!wanted.has(f)) {
    if (check) stale.push(join('dist', f))
    else rmSync(join('dist', f))
  }
}
if (check && stale.length) {
  console.error(`dist/ is stale (run npm run build and commit): ${stale.join(' ')}`)
  process.exit(1)
}
