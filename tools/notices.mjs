// The third-party notice file shipped in dist/: every npm package whose code esbuild actually put
// into a bundle (from esbuild's metafile: inputs with bytes in the output), with its licence text
// from node_modules. zx's build vendors other packages into its own files (vendor-core.cjs); those
// are found by the `// node_modules/<pkg>/...` markers esbuild left in zx's bundled file, and
// named with the version and licence zx records for them in build/3rd-party-licenses (their own
// licence files are not in node_modules: the standard text of that licence is given).
// Deterministic: sorted packages, sorted bundle names, no dates, no absolute paths.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** `.../node_modules/@scope/name/x/y.js` -> { dir, name } of the innermost package. */
function packageOf(path) {
  const parts = path.split('/')
  const i = parts.lastIndexOf('node_modules')
  if (i < 0) return undefined
  const name = parts[i + 1].startsWith('@') ? `${parts[i + 1]}/${parts[i + 2]}` : parts[i + 1]
  return { name, dir: parts.slice(0, i + 1).join('/') + '/' + name }
}

function licenceText(dir) {
  const f = readdirSync(dir)
    .filter((n) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(n))
    .sort()[0]
  if (!f) throw new Error(`no licence file in ${dir}: cannot ship it without its notice`)
  return readFileSync(join(dir, f), 'utf8').trimEnd()
}

/** zx's own record of what its build vendors: name@version -> { licence, author, source }. */
function zxVendored(zxDir) {
  const out = new Map()
  const text = readFileSync(join(zxDir, 'build', '3rd-party-licenses'), 'utf8')
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').map((l) => l.trim())
    const m = /^(@?[^@\s]+)@(\S+)$/.exec(lines[0] ?? '')
    if (m) out.set(m[1], { version: m[2], author: lines[1], source: lines[2], licence: lines[3] })
  }
  return out
}

// Packages zx vendors without listing them in its 3rd-party-licenses; checked by hand.
const KNOWN_GAPS = {
  '@webpod/ingrid': {
    licence: 'MIT',
    note: 'a dependency of @webpod/ps; zx does not record its version. Licence and author from the npm registry:\nAnton Golub <antongolub@antongolub.com>; source: git+https://github.com/webpod/ingrid.git',
  },
}

const STANDARD = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any purpose with or without
fee is hereby granted, provided that the above copyright notice and this permission notice appear
in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS
SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE
AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE
OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS
SOFTWARE.`,
}

/**
 * builds: [{ bundle: 'flanneld', metafile }]. Returns the notice text.
 */
export function noticesText(builds) {
  const pkgs = new Map() // name -> { dir, bundles:Set, vendoredBy?:string, info? }
  const add = (name, entry, bundle) => {
    if (!pkgs.has(name)) pkgs.set(name, { ...entry, bundles: new Set() })
    pkgs.get(name).bundles.add(bundle)
  }
  for (const { bundle, metafile } of builds) {
    for (const out of Object.values(metafile.outputs)) {
      for (const [path, { bytesInOutput }] of Object.entries(out.inputs)) {
        const p = packageOf(path)
        if (!p || bytesInOutput === 0) continue
        add(p.name, { dir: p.dir }, bundle)
        if (p.name !== 'zx') continue
        const vendored = zxVendored(p.dir)
        const code = readFileSync(path, 'utf8')
        for (const m of code.matchAll(/^\/\/ node_modules\/((?:@[^/\s]+\/)?[^/\s]+)\//gm)) {
          add(m[1], { vendoredBy: `zx (${path.slice(path.lastIndexOf('zx/'))})`, info: vendored.get(m[1]) }, bundle)
        }
      }
    }
  }
  const sections = [...pkgs.keys()].sort().map((name) => {
    const p = pkgs.get(name)
    const used = `in: ${[...p.bundles].sort().join(', ')}`
    if (!p.vendoredBy) {
      const meta = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'))
      return `${name} ${meta.version} (${meta.license})\n${used}\n\n${licenceText(p.dir)}\n`
    }
    const i = p.info
    if (!i) {
      const k = KNOWN_GAPS[name]
      if (!k) throw new Error(`${name} is bundled (vendored by ${p.vendoredBy}) but zx records no licence for it: add it to KNOWN_GAPS after checking`)
      return `${name} (${k.licence}), vendored by ${p.vendoredBy}\n${used}\n${k.note}\n\nThe ${k.licence} licence text, under which its authors publish it:\n\n${STANDARD[k.licence]}\n`
    }
    const std = STANDARD[i.licence]
    return (
      `${name} ${i.version} (${i.licence}), vendored by ${p.vendoredBy}\n${used}\nauthor (as zx records it): ${i.author}; source: ${i.source}\n` +
      (std ? `\nThe ${i.licence} licence text, under which its authors publish it:\n\n${std}\n` : '')
    )
  })
  const rule = '\n' + '-'.repeat(100) + '\n\n'
  return (
    'THIRD-PARTY NOTICES\n\n' +
    "weft's bundles (dist/) contain code from the packages below. weft itself is under the Apache\n" +
    'License 2.0 (LICENSE). Each section names a package, its version and licence, the bundles it is\n' +
    'in, and its licence text.\n' +
    rule +
    sections.join(rule)
  )
}

export const NOTICES_FILE = 'THIRD-PARTY-NOTICES'
