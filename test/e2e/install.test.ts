// weft-install into a throwaway root: the files a runtime and systemd read, atomically written;
// flanneld's flags checked with flanneld's parser before anything is written; the reference
// plugins linked or refused; --uninstall removing exactly what was installed.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync, existsSync, readdirSync, writeFileSync, mkdirSync, symlinkSync, readlinkSync } from 'node:fs'
import { join, relative } from 'node:path'
import { Scope, sh, dist } from '../helpers/scope.ts'
import { CONFLIST } from '../../scripts/lib/install/files.ts'

const scope = new Scope()
after(() => scope.close())
const install = (args: string[], env: NodeJS.ProcessEnv = {}) => sh([process.execPath, dist('weft-install'), ...args], { env: { ...process.env, CNI_PATH: '', ...env } })

/** A node root whose distribution keeps the reference plugins in /usr/lib/cni, as Debian does. */
function debianRoot(): string {
  const root = scope.tmp()
  mkdirSync(join(root, 'usr/lib/cni'), { recursive: true })
  mkdirSync(join(root, 'etc'))
  writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n')
  for (const p of ['bridge', 'host-local', 'portmap']) symlinkSync(`/usr/lib/cni/${p}`, join(root, 'usr/lib/cni', p))
  return root
}

/** Every path under root (files, links, directories), sorted. */
function tree(root: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      out.push(relative(root, join(d, n.name)))
      if (n.isDirectory()) walk(join(d, n.name))
    }
  }
  walk(root)
  return out.sort()
}

test('installs the plugin, the daemon bundles, the kube-flannel conflist, the plugin links, a unit and a manifest', () => {
  const root = debianRoot()
  const r = install(['--root', root, '--', '--etcd-endpoints=http://10.0.0.1:2379', '--ip-masq'])
  assert.equal(r.code, 0, r.stderr)
  const plugin = join(root, 'opt/cni/bin/flannel')
  assert.deepEqual(readFileSync(plugin), readFileSync(dist('flannel')))
  assert.equal(statSync(plugin).mode & 0o777, 0o755)
  for (const b of ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes']) assert.deepEqual(readFileSync(join(root, 'opt/bin', b)), readFileSync(dist(b)))
  const conf = JSON.parse(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'))
  assert.deepEqual(conf, {
    name: 'cbr0',
    cniVersion: '0.3.1',
    plugins: [
      { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  })
  for (const p of ['bridge', 'host-local', 'portmap']) assert.equal(readlinkSync(join(root, 'opt/cni/bin', p)), `/usr/lib/cni/${p}`)
  const unit = readFileSync(join(root, 'etc/systemd/system/flanneld.service'), 'utf8')
  assert.match(unit, /^ExecStart=\/opt\/bin\/flanneld --etcd-endpoints=http:\/\/10\.0\.0\.1:2379 --ip-masq$/m)
  assert.match(unit, /^Type=notify$/m)
  assert.match(unit, /^EnvironmentFile=-\/etc\/default\/flanneld$/m)
  assert.match(unit, /^RuntimeDirectory=flannel$/m)
  assert.match(readFileSync(join(root, 'etc/tmpfiles.d/weft.conf'), 'utf8'), /^f \/run\/xtables\.lock 0600 root root -$/m)
  assert.deepEqual(readdirSync(join(root, 'etc/cni/net.d')), ['10-flannel.conflist'], 'no temp file left')
  const m = JSON.parse(readFileSync(join(root, 'var/lib/weft/install-manifest.json'), 'utf8'))
  assert.deepEqual(m.files.map((f: { path: string }) => f.path).sort(), [
    '/etc/cni/net.d/10-flannel.conflist',
    '/etc/systemd/system/flanneld.service',
    '/etc/tmpfiles.d/weft.conf',
    '/opt/bin/flanneld',
    '/opt/bin/weft-masq',
    '/opt/bin/weft-routes',
    '/opt/bin/weft-subnet',
    '/opt/cni/bin/flannel',
  ])
  assert.equal(m.links.length, 3)
  assert.match(r.stdout, /^preflight: (ok {2}|WARN) net\.ipv4\.ip_forward/m)
  // the installed plugin runs from its new place
  const v = sh([join(root, 'opt/cni/bin/flannel')], { env: { ...process.env, CNI_COMMAND: 'VERSION' } })
  assert.match(v.stdout, /"supportedVersions"/)
})

test('running it again replaces the files in place (idempotent)', () => {
  const root = debianRoot()
  assert.equal(install(['--root', root, '--no-unit']).code, 0)
  const before = tree(root)
  writeFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'garbage')
  assert.equal(install(['--root', root, '--no-unit']).code, 0)
  assert.equal(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'), CONFLIST)
  assert.equal(existsSync(join(root, 'etc/systemd/system/flanneld.service')), false)
  assert.deepEqual(tree(root), before)
})

test('--dry-run prints the plan and writes nothing', () => {
  const root = debianRoot()
  const before = tree(root)
  const r = install(['--root', root, '--dry-run'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, new RegExp(`install -m 755 \\S+/dist/flannel ${root}/opt/cni/bin/flannel`))
  assert.match(r.stdout, new RegExp(`ln -s /usr/lib/cni/bridge ${root}/opt/cni/bin/bridge`))
  assert.deepEqual(tree(root), before)
})

test('a misspelt or invalid flanneld flag fails the install, not the boot: exit 2, one line, nothing written', () => {
  const cases: [string[], RegExp][] = [
    [['--ifac=eth0'], /^weft-install: flanneld flags: flag provided but not defined: -ifac \(see --help\)$/],
    [['--ip-masq=maybe'], /flanneld flags: invalid boolean value "maybe" for --ip-masq/],
    [['--subnet-lease-renew-margin=0'], /flanneld flags: Invalid subnet-lease-renew-margin option/],
    [['--public-ip=10.0.0.300'], /flanneld flags: invalid IP address: 10\.0\.0\.300/],
    [['--iface-regex=(eth'], /flanneld flags: invalid --iface-regex "\(eth"/],
    [['--healthz-port=70000'], /flanneld flags: invalid --healthz-port 70000/],
    [['--subnet-file=run/subnet.env'], /--subnet-file must be an absolute path/],
    [['--version'], /flanneld flag --version does not belong in a unit/],
    [['eth0'], /flanneld takes no arguments, got "eth0"/],
  ]
  for (const [args, msg] of cases) {
    const root = debianRoot()
    const before = tree(root)
    const r = install(['--root', root, '--', ...args])
    assert.equal(r.code, 2, `${args}: ${r.stderr}`)
    assert.match(r.stderr.trimEnd(), msg)
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line')
    assert.deepEqual(tree(root), before, `${args}: nothing written`)
  }
})

test("the unit's EnvironmentFile is checked too: a bad FLANNELD_* value fails the install", () => {
  const root = debianRoot()
  mkdirSync(join(root, 'etc/default'))
  writeFileSync(join(root, 'etc/default/flanneld'), '# flanneld settings\nFLANNELD_IP_MASQ=maybe\n')
  const before = tree(root)
  const r = install(['--root', root])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /flanneld flags: invalid boolean value "maybe" for --ip-masq/)
  assert.deepEqual(tree(root), before)
})

test('--iface-regex is accepted and reaches the unit quoted so systemd reads it back unchanged', () => {
  const root = debianRoot()
  const r = install(['--root', root, '--', '--iface-regex=^(eth|ens)[0-9]+$', '--iface-regex', '10\\.0\\..*'])
  assert.equal(r.code, 0, r.stderr)
  const unit = readFileSync(join(root, 'etc/systemd/system/flanneld.service'), 'utf8')
  assert.match(unit, /^ExecStart=\/opt\/bin\/flanneld "--iface-regex=\^\(eth\|ens\)\[0-9\]\+\$\$" --iface-regex "10\\\\\.0\\\\\.\.\*"$/m)
})

test('the conflist follows --subnet-file and --data-dir; so does the unit (FLANNELD_SUBNET_FILE too)', () => {
  const root = debianRoot()
  const r = install(['--root', root, '--data-dir=/var/lib/weft-cni', '--', '--subnet-file=/var/lib/weft-net/subnet.env'])
  assert.equal(r.code, 0, r.stderr)
  const conf = JSON.parse(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'))
  assert.deepEqual(conf.plugins[0], {
    type: 'flannel',
    subnetFile: '/var/lib/weft-net/subnet.env',
    dataDir: '/var/lib/weft-cni',
    delegate: { hairpinMode: true, isDefaultGateway: true },
  })
  const unit = readFileSync(join(root, 'etc/systemd/system/flanneld.service'), 'utf8')
  assert.match(unit, /^ReadWritePaths=\/var\/lib\/weft-net$/m)
  assert.ok(statSync(join(root, 'var/lib/weft-net')).isDirectory(), 'the subnet file directory is made')

  const root2 = debianRoot()
  mkdirSync(join(root2, 'etc/default'))
  writeFileSync(join(root2, 'etc/default/flanneld'), 'FLANNELD_SUBNET_FILE="/run/weft/subnet.env"\n')
  assert.equal(install(['--root', root2]).code, 0)
  assert.equal(JSON.parse(readFileSync(join(root2, 'etc/cni/net.d/10-flannel.conflist'), 'utf8')).plugins[0].subnetFile, '/run/weft/subnet.env')
  assert.match(readFileSync(join(root2, 'etc/systemd/system/flanneld.service'), 'utf8'), /^RuntimeDirectory=weft$/m)
})

test('reference plugins: missing ones are refused with the exact install command; CNI_PATH is searched; present ones are left alone', () => {
  const root = debianRoot()
  for (const p of ['bridge', 'host-local', 'portmap']) sh(['rm', join(root, 'usr/lib/cni', p)])
  const before = tree(root)
  const r = install(['--root', root])
  assert.equal(r.code, 1)
  assert.match(
    r.stderr,
    /^weft-install: error: the conflist needs the CNI reference plugins bridge, host-local, portmap, found in none of \/opt\/cni\/bin, \/usr\/lib\/cni, \/usr\/libexec\/cni; install them with: apt-get install -y containernetworking-plugins \(or pass --no-conflist\)$/m,
  )
  assert.deepEqual(tree(root), before)
  writeFileSync(join(root, 'etc/os-release'), 'ID=alpine\n')
  assert.match(
    install(['--root', root]).stderr,
    /install them with: mkdir -p \/opt\/cni\/bin && curl -fsSL https:\/\/github\.com\/containernetworking\/plugins\/releases\/download\/v1\.6\.2\/cni-plugins-linux-\w+-v1\.6\.2\.tgz \| tar -xz -C \/opt\/cni\/bin/,
  )
  // CNI_PATH, searched under the root like the rest
  mkdirSync(join(root, 'srv/cni'), { recursive: true })
  for (const p of ['bridge', 'host-local', 'portmap']) symlinkSync(`/usr/lib/cni/${p}`, join(root, 'srv/cni', p))
  const ok = install(['--root', root, '--no-unit'], { CNI_PATH: '/elsewhere:/srv/cni' })
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(readlinkSync(join(root, 'opt/cni/bin/bridge')), '/srv/cni/bridge')
  // a plugin already in the bin dir is not linked over
  const root2 = debianRoot()
  mkdirSync(join(root2, 'opt/cni/bin'), { recursive: true })
  writeFileSync(join(root2, 'opt/cni/bin/portmap'), 'own portmap', { mode: 0o755 })
  assert.equal(install(['--root', root2, '--no-unit']).code, 0)
  assert.equal(readFileSync(join(root2, 'opt/cni/bin/portmap'), 'utf8'), 'own portmap')
  // --no-conflist needs none of them
  const root3 = scope.tmp()
  assert.equal(install(['--root', root3, '--no-conflist']).code, 0)
})

test('--uninstall removes exactly what was installed: foreign files stay, a changed file stays with a warning', () => {
  const root = debianRoot()
  mkdirSync(join(root, 'opt/cni/bin'), { recursive: true })
  writeFileSync(join(root, 'opt/cni/bin/loopback'), 'not ours', { mode: 0o755 })
  const before = tree(root)
  assert.equal(install(['--root', root, '--', '--ip-masq']).code, 0)
  assert.equal(install(['--root', root, '--', '--ip-masq']).code, 0, 'twice: the manifest still lists each file once')
  const dry = install(['--root', root, '--uninstall', '--dry-run'])
  assert.match(dry.stdout, /would remove file \/opt\/cni\/bin\/flannel/)
  assert.ok(existsSync(join(root, 'opt/cni/bin/flannel')))
  const u = install(['--root', root, '--uninstall'])
  assert.equal(u.code, 0, u.stderr)
  assert.match(u.stdout, /removed link \/opt\/cni\/bin\/bridge/)
  assert.deepEqual(tree(root), before, 'the root is as it was before the install')
  // a conflist edited after install is the operator's now
  assert.equal(install(['--root', root, '--no-unit']).code, 0)
  writeFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), '{"edited":true}')
  const u2 = install(['--root', root, '--uninstall'])
  assert.match(u2.stdout, /left in place \/etc\/cni\/net\.d\/10-flannel\.conflist: changed since weft-install wrote it/)
  assert.equal(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'), '{"edited":true}')
  const u3 = install(['--root', root, '--uninstall'])
  assert.equal(u3.code, 1)
  assert.match(u3.stderr, /^weft-install: error: nothing to uninstall: no \S+\/var\/lib\/weft\/install-manifest\.json/)
})

test('bad input: a control character in a flanneld argument, a relative --root: an error and nothing written', () => {
  const root = debianRoot()
  const before = tree(root)
  const r = install(['--root', root, '--', '--etcd-endpoints=http://a\n[Service]'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /control character/)
  assert.deepEqual(tree(root), before)
  const r2 = install(['--root', 'rel/dir'])
  assert.equal(r2.code, 2)
  assert.match(r2.stderr, /--root must be an absolute path/)
})

test('--conflist-file installs a given conflist as it is; a file that is not a conflist is refused, nothing written', () => {
  const root = debianRoot()
  const conf = join(scope.tmp(), 'cni-conf.json')
  writeFileSync(conf, '{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"isDefaultGateway":true}}]}')
  const r = install(['--root', root, '--no-daemon', '--no-unit', '--no-plugin', `--conflist-file=${conf}`])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(readFileSync(join(root, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'), readFileSync(conf, 'utf8') + '\n')
  assert.equal(existsSync(join(root, 'opt/cni/bin/flannel')), false, '--no-plugin')
  assert.equal(existsSync(join(root, 'opt/bin/flanneld')), false, '--no-daemon')
  const cases: [string, RegExp][] = [
    ['{"name":', /--conflist-file \S+: not JSON/],
    ['{"name":"x","plugins":[]}', /not a conflist \(needs "name" and a non-empty "plugins"\)/],
  ]
  for (const [text, msg] of cases) {
    const root2 = debianRoot()
    const before = tree(root2)
    writeFileSync(conf, text)
    const bad = install(['--root', root2, '--no-unit', `--conflist-file=${conf}`])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, msg)
    assert.deepEqual(tree(root2), before)
  }
  const nd = install(['--root', debianRoot(), '--no-daemon'])
  assert.equal(nd.code, 2)
  assert.match(nd.stderr, /--no-daemon needs --no-unit/)
})
