// npm run release: dist/ built fresh, then release/weft-<version>-linux.tar.gz with what a node
// needs and what an operator reads, and release/SHA256SUMS. Built twice, the same bytes: sorted
// entries, every mtime = SOURCE_DATE_EPOCH (else the last commit's time), modes fixed, gzip -n.
import { readFileSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { tarGz, type Entry } from './tar.ts'
import { CONFLIST } from '../scripts/lib/install/files.ts'
import { unitText } from '../scripts/lib/install/unit.ts'

const out = process.argv[2] ?? 'release'
const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
const top = `weft-${pkg.version}`
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? gitTime())

function gitTime(): string {
  try {
    return execFileSync('git', ['log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim() || '0'
  } catch {
    return '0'
  }
}

const file = (path: string, mode: number, data: Buffer | string): Entry => ({ path: `${top}/${path}`, mode, data: Buffer.from(data) })
const entries: Entry[] = ['', 'bin/', 'examples/', 'deploy/'].map((d) => ({ path: `${top}/${d}`, mode: 0o755 }))
// The bundles (weft-lab too: the demo a new user runs), their package.json and notices.
for (const f of readdirSync('dist').sort()) {
  const data = readFileSync(join('dist', f))
  entries.push(file(`bin/${f}`, data.subarray(0, 2).toString() === '#!' ? 0o755 : 0o644, data))
}
entries.push(file('LICENSE', 0o644, readFileSync('LICENSE')))
entries.push(file('THIRD-PARTY-NOTICES', 0o644, readFileSync('dist/THIRD-PARTY-NOTICES')))
entries.push(file('README.md', 0o644, readFileSync('README.md')))
entries.push(file('examples/10-flannel.conflist', 0o644, CONFLIST))
// The unit weft-install writes for `weft-install -- --ip-masq` (etcd flags go in /etc/default/flanneld).
entries.push(file('examples/flanneld.service', 0o644, unitText({ binDir: '/opt/bin', args: ['--ip-masq'], subnetFile: '/run/flannel/subnet.env', envFile: '/etc/default/flanneld' })))
entries.push(file('examples/cloud-init.yaml', 0o644, readFileSync('docs/cloud-init.yaml')))
entries.push(file('deploy/kube-flannel.yml', 0o644, readFileSync('deploy/kube-flannel.yml')))

const name = `${top}-linux.tar.gz`
const tgz = tarGz(entries, epoch)
mkdirSync(out, { recursive: true })
writeFileSync(join(out, name), tgz)
const sum = createHash('sha256').update(tgz).digest('hex')
writeFileSync(join(out, 'SHA256SUMS'), `${sum}  ${name}\n`)
process.stdout.write(`${join(out, name)} (${tgz.length} bytes)\n${sum}  ${name}\n`)
