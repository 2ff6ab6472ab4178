// No hidden dependencies: every bundle runs on a host with Node, iproute2 and iptables/nft and
// nothing more. PATH holds only symlinks to those (no bash, no sysctl, no coreutils), the bundles
// sit in a foreign project whose package.json says "type": "module", and they run from another
// working directory. flanneld runs for real there (in a throwaway namespace, with a real etcd):
// its parts write subnet.env, install the masquerade rules and route to a peer.
import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync, symlinkSync, copyFileSync, readdirSync, existsSync, readFileSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { Scope, must, inNs, dist, waitFor } from '../helpers/scope.ts'
import { startEtcd, etcdctl } from '../helpers/etcd.ts'

const scope = new Scope()
after(() => scope.close())

const TOOLS = [
  'ip',
  'bridge',
  'nft',
  ...['iptables', 'ip6tables'].flatMap((t) => [
    t,
    `${t}-save`,
    `${t}-restore`,
    `${t}-nft`,
    `${t}-nft-save`,
    `${t}-nft-restore`,
    `${t}-legacy`,
    `${t}-legacy-save`,
    `${t}-legacy-restore`,
  ]),
]
let bin = ''
let lib = ''
let cwd = ''

before(() => {
  const top = scope.tmp('bare')
  bin = join(top, 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  for (const t of TOOLS) {
    const found = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p))
    if (found) symlinkSync(found, join(bin, t))
  }
  // a foreign ESM project holding the bundles (no dist/package.json beside them)
  writeFileSync(join(top, 'package.json'), '{ "name": "someone-elses", "type": "module" }\n')
  lib = join(top, 'vendor', 'weft')
  mkdirSync(lib, { recursive: true })
  for (const f of readdirSync(dist('.'))) if (f !== 'package.json' && f !== 'THIRD-PARTY-NOTICES') copyFileSync(dist(f), join(lib, f))
  cwd = join(top, 'elsewhere')
  mkdirSync(cwd)
})

const env = (extra: Record<string, string> = {}) => ({ PATH: bin, ...extra })
function bare(argv: string[], extra: Record<string, string> = {}, input = '') {
  const r = spawnSync(argv[0], argv.slice(1), { cwd, env: env(extra), input, encoding: 'utf8' })
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

test('PATH really is bare: no bash, no sh, no sysctl, no coreutils', () => {
  for (const t of ['bash', 'sh', 'sysctl', 'cat', 'env', 'systemd-notify']) assert.equal(existsSync(join(bin, t)), false, t)
  assert.ok(existsSync(join(bin, 'iptables')) && existsSync(join(bin, 'ip')))
})

test('every bundle answers --help (the CNI plugin VERSION) as an ES-module-tree file, from a foreign cwd', () => {
  for (const b of readdirSync(lib)) {
    const r = b === 'flannel' ? bare([join(lib, b)], { CNI_COMMAND: 'VERSION' }) : bare([join(bin, 'node'), join(lib, b), '--help'])
    assert.equal(r.code, 0, `${b}: ${r.stderr.slice(0, 300)}`)
    assert.match(r.stdout, b === 'flannel' ? /"supportedVersions"/ : /^Usage: /, b)
  }
  // the bundle itself is found through the shebang with PATH's node
  assert.match(bare([join(lib, 'weft-install'), '--help']).stdout, /^Usage: weft-install/)
})

test('weft-install installs under --root with nothing but node, ip and iptables', () => {
  const root = scope.tmp()
  mkdirSync(join(root, 'usr/lib/cni'), { recursive: true })
  for (const p of ['bridge', 'host-local', 'portmap']) symlinkSync(`/usr/lib/cni/${p}`, join(root, 'usr/lib/cni', p))
  const r = bare([join(bin, 'node'), join(lib, 'weft-install'), '--root', root, '--', '--ip-masq'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /^preflight: (ok {2}|WARN) iptables v\d/m)
  assert.deepEqual(readFileSync(join(root, 'opt/bin/flanneld')), readFileSync(join(lib, 'flanneld')))
})

test('flanneld runs its parts with that PATH: subnet.env, masquerade rules, a route to a peer', { timeout: 90_000 }, async () => {
  const ns = scope.ns('bare')
  must(['ip', '-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'])
  must(['ip', '-n', ns, 'addr', 'add', '10.97.0.2/24', 'dev', 'd0'])
  must(['ip', '-n', ns, 'link', 'set', 'd0', 'up'])
  must(['ip', '-n', ns, 'link', 'set', 'd1', 'up'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  const put = (k: string, v: string) => assert.equal(etcdctl(etcd.endpoint, ['put', k, v], { netns: ns }).code, 0)
  put('/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
  put('/coreos.com/network/subnets/10.244.77.0-24', JSON.stringify({ PublicIP: '10.97.0.3', PublicIPv6: null, BackendType: 'host-gw', BackendData: null }))
  const subnetFile = join(scope.tmp(), 'subnet.env')
  // ip netns exec needs its own PATH lookup; the daemon gets the bare PATH through env(1)'s absolute path
  const p = scope.spawn(
    ['/usr/bin/env', '-i', `PATH=${bin}`, join(bin, 'node'), join(lib, 'flanneld'), '--iface=d0', `--etcd-endpoints=${etcd.endpoint}`, `--subnet-file=${subnetFile}`, '--ip-masq'],
    { netns: ns, cwd },
  )
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('subnet.env', () => existsSync(subnetFile), 30_000).catch((e) => assert.fail(`${e.message}\n${log}`))
  assert.match(readFileSync(subnetFile, 'utf8'), /^FLANNEL_SUBNET=10\.244\.\d+\.1\/24$/m)
  await waitFor('the masquerade rules', () => /-A FLANNEL-POSTRTG/.test(inNs(ns, ['iptables-save', '-t', 'nat']).stdout), 30_000).catch((e) => assert.fail(`${e.message}\n${log}`))
  await waitFor('the route to the peer', () => /10\.244\.77\.0\/24 via 10\.97\.0\.3 dev d0/.test(inNs(ns, ['ip', 'route']).stdout), 30_000).catch((e) =>
    assert.fail(`${e.message}\n${log}`),
  )
  assert.doesNotMatch(log, /ENOENT|not found|bash/i)
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
  p.kill('SIGTERM')
  assert.equal(await exited, 0, log)
  assert.ok(realpathSync(lib))
})
