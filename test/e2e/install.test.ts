// weft-install into a throwaway root: the files a runtime and systemd read, atomically written.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync, existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, sh, dist } from '../helpers/scope.ts'
import { CONFLIST } from '../../scripts/lib/install/files.ts'

const scope = new Scope()
after(() => scope.close())
const install = (args: string[]) => sh([process.execPath, dist('weft-install'), ...args])

test('installs the plugin, the daemon bundles, the kube-flannel conflist and a unit', () => {
  const root = scope.tmp()
  const r = install(['--root', root, '--', '--etcd-endpoints=http://10.0.0.1:2379', '--ip-masq'])
  assert.equal(r.code, 0, r.stderr)
  const plugin = join(root, 'opt/cni/bin/flannel')
  assert.deepEqual(readFileSync(plugin), readFileSync(dist('flannel')))
  assert.equal(statSync(plugin).mode & 0o777, 0o755)
  for (const b of ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes']) assert.deepEqual(readFileSync(join(root, 'opt/bin', b)), readFileSync(dist(b)))
  const conf = JSON.parse(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'))
  assert.deepEqual(conf, { name: 'cbr0', cniVersion: '0.3.1', plugins: [{ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } }, { type: 'portmap', capabilities: { portMappings: true } }] })
  assert.match(readFileSync(join(root, 'etc/systemd/system/flanneld.service'), 'utf8'), /^ExecStart=\/opt\/bin\/flanneld --etcd-endpoints=http:\/\/10\.0\.0\.1:2379 --ip-masq$/m)
  assert.deepEqual(readdirSync(join(root, 'etc/cni/net.d')), ['10-flannel.conflist'], 'no temp file left')
  // the installed plugin runs from its new place
  const v = sh([join(root, 'opt/cni/bin/flannel')], { env: { ...process.env, CNI_COMMAND: 'VERSION' } })
  assert.match(v.stdout, /"supportedVersions"/)
})

test('running it again replaces the files in place (idempotent)', () => {
  const root = scope.tmp()
  assert.equal(install(['--root', root, '--no-unit']).code, 0)
  writeFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'garbage')
  assert.equal(install(['--root', root, '--no-unit']).code, 0)
  assert.equal(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'), CONFLIST)
  assert.equal(existsSync(join(root, 'etc/systemd/system/flanneld.service')), false)
})

test('--dry-run prints the plan and writes nothing', () => {
  const root = scope.tmp()
  const r = install(['--root', root, '--dry-run'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, new RegExp(`install -m 755 \\S+/dist/flannel ${root}/opt/cni/bin/flannel`))
  assert.deepEqual(readdirSync(root), [])
})

test('bad input: a flanneld argument systemd would interpret, a relative --root: an error and nothing written', () => {
  const root = scope.tmp()
  const r = install(['--root', root, '--', '--etcd-endpoints=$(id)'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /would interpret/)
  assert.deepEqual(readdirSync(root), [])
  const r2 = install(['--root', 'rel/dir'])
  assert.equal(r2.code, 2)
  assert.match(r2.stderr, /--root must be an absolute path/)
})
