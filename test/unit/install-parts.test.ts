// weft-install's pure parts: systemd quoting, the EnvironmentFile reader, preflight verdicts on a
// fake /proc, manifest merging, the conflist's moved paths.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { systemdQuote } from '../../scripts/lib/install/unit.ts'
import { parseEnvFile } from '../../scripts/lib/install/env-file.ts'
import { preflight, showChecks, type Probe } from '../../scripts/lib/install/preflight.ts'
import { mergeManifest } from '../../scripts/lib/install/manifest.ts'
import { conflistText, CONFLIST } from '../../scripts/lib/install/files.ts'
import { searchDirs } from '../../scripts/lib/install/plugins.ts'
import { parseFlanneldArgs, flanneldValueError } from '../../scripts/lib/daemon/flanneld-flags.ts'

test('systemdQuote: plain words stay, the rest is quoted with \\ " % $ escaped; control characters refused', () => {
  assert.equal(systemdQuote('--ip-masq'), '--ip-masq')
  assert.equal(systemdQuote('--iface-regex=^(eth|ens)[0-9]+$'), '"--iface-regex=^(eth|ens)[0-9]+$$"')
  assert.equal(systemdQuote('a b'), '"a b"')
  assert.equal(systemdQuote('x"y\\z'), '"x\\"y\\\\z"')
  assert.equal(systemdQuote('50%'), '"50%%"')
  assert.throws(() => systemdQuote('a\nb'), /control character/)
})

test('EnvironmentFile: KEY=VALUE, comments, quotes; a line that is not KEY=VALUE is named', () => {
  assert.deepEqual(parseEnvFile('# c\n; c\nFLANNELD_IP_MASQ=true\nFLANNELD_IFACE="eth0,eth1"\n\n', 'f'), { FLANNELD_IP_MASQ: 'true', FLANNELD_IFACE: 'eth0,eth1' })
  assert.throws(() => parseEnvFile('FLANNELD_IP_MASQ=true\nexport X\n', '/etc/default/flanneld'), /\/etc\/default\/flanneld:2: not KEY=VALUE/)
})

test("flanneld's parser and value checks, as weft-install uses them", () => {
  const f = parseFlanneldArgs(['--iface-regex=^e', '--ip-masq'], { FLANNELD_SUBNET_FILE: '/x/s.env' })
  assert.deepEqual(f['iface-regex'], ['^e'])
  assert.equal(f['subnet-file'], '/x/s.env')
  assert.equal(flanneldValueError(f), undefined)
  assert.match(flanneldValueError(parseFlanneldArgs(['--iface-regex=['], {}))!, /invalid --iface-regex/)
  assert.match(flanneldValueError(parseFlanneldArgs(['--public-ipv6=10.0.0.1'], {}))!, /not an IPv6 address: 10\.0\.0\.1/)
})

const probe = (o: { fwd?: string; brnf?: string; mod?: boolean; ipt?: string }): Probe => ({
  read: (p) => (p.endsWith('ip_forward') ? o.fwd : p.endsWith('bridge-nf-call-iptables') ? o.brnf : undefined),
  exists: (p) => p === '/sys/module/br_netfilter' && !!o.mod,
  iptablesVersion: () => o.ipt,
})

test('preflight: each check ok or a warning that says what breaks and the fix', () => {
  const good = preflight(probe({ fwd: '1', brnf: '1', mod: true, ipt: 'iptables v1.8.9 (nf_tables)' }))
  assert.ok(
    good.every((c) => c.ok),
    showChecks(good),
  )
  const bad = showChecks(preflight(probe({ fwd: '0', ipt: undefined })))
  assert.match(bad, /^preflight: WARN net\.ipv4\.ip_forward = 0: .*fix: sysctl -w net\.ipv4\.ip_forward=1/m)
  assert.match(bad, /^preflight: WARN br_netfilter is not loaded: .*fix: modprobe br_netfilter/m)
  assert.match(bad, /^preflight: WARN iptables not found .*fix: apt-get install -y iptables/m)
  assert.match(
    showChecks(preflight(probe({ fwd: '1', brnf: '0', mod: true, ipt: 'iptables v1.8.7 (legacy)' }))),
    /WARN net\.bridge\.bridge-nf-call-iptables = 0: .*\n.*ok {3}iptables v1\.8\.7 \(legacy\): the legacy flavour/,
  )
  assert.match(showChecks(preflight(probe({ fwd: '1', brnf: '1', mod: true, ipt: 'iptables v1.4.21' }))), /WARN iptables v1\.4\.21: the legacy flavour.*older than 1\.6\.2/)
})

test('manifest: a second install merges by path, sorted, new entries winning', () => {
  const a = {
    files: [
      { path: '/b', sha256: '1' },
      { path: '/a', sha256: '1' },
    ],
    links: [],
    dirs: ['/opt/bin'],
  }
  const b = { files: [{ path: '/b', sha256: '2' }], links: [{ path: '/l', target: '/t' }], dirs: ['/opt'] }
  assert.deepEqual(mergeManifest(a, b), {
    files: [
      { path: '/a', sha256: '1' },
      { path: '/b', sha256: '2' },
    ],
    links: [{ path: '/l', target: '/t' }],
    dirs: ['/opt', '/opt/bin'],
  })
})

test("conflist: kube-flannel's bytes by default; subnetFile and dataDir only when moved", () => {
  assert.equal(conflistText(), CONFLIST)
  assert.doesNotMatch(CONFLIST, /subnetFile|dataDir/)
  assert.deepEqual(JSON.parse(conflistText('/a/s.env', '/d')).plugins[0], {
    type: 'flannel',
    subnetFile: '/a/s.env',
    dataDir: '/d',
    delegate: { hairpinMode: true, isDefaultGateway: true },
  })
})

test('plugin search: CNI_PATH (absolute entries) first, then the distributions’ directories', () => {
  assert.deepEqual(searchDirs('/x:rel:/usr/lib/cni'), ['/x', '/usr/lib/cni', '/usr/libexec/cni'])
  assert.deepEqual(searchDirs(undefined), ['/usr/lib/cni', '/usr/libexec/cni'])
})
