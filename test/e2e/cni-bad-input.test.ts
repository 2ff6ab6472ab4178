// Bad input, each a named case: exactly one CNI error JSON document on stdout, a non-zero exit,
// no stack trace, no hang (each run has a deadline), and nothing created (no file under the test
// dir, no link in the node or the pod netns).
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, dist, must } from '../helpers/scope.ts'
import { conf, links, makeNode, plugin, podEnv, tree, type CniEnv, type Node, type Run } from './cni-helpers.ts'

const scope = new Scope()
after(() => scope.close())

interface Case {
  env?: (pod: string) => CniEnv
  stdin?: (node: Node) => string | object
  subnetEnv?: string | null
  setup?: (node: Node) => void
  code?: number
  msg?: RegExp
}

function refused(name: string, c: Case): void {
  test(name, () => {
    const node = makeNode(scope, c.subnetEnv === undefined ? 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n' : c.subnetEnv)
    const pod = scope.ns('cb')
    c.setup?.(node)
    const before = tree(node.dir)
    const env = c.env ? c.env(pod) : podEnv('ADD', 'bad1', pod)
    if (env.CNI_NETNS === '@NODE') env.CNI_NETNS = `/run/netns/${node.ns}`
    const r = bounded(node, env, c.stdin ? c.stdin(node) : conf(node, '0.3.1'))
    assert.notEqual(r.code, 0)
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'a stack trace')
    const e = JSON.parse(r.stdout) as { code: number; msg: string }
    assert.equal(typeof e.code, 'number')
    assert.equal(typeof e.msg, 'string')
    if (c.code !== undefined) assert.equal(e.code, c.code, e.msg)
    if (c.msg) assert.match(e.msg, c.msg)
    assert.deepEqual(tree(node.dir), before)
    assert.deepEqual(links(node.ns), ['lo'])
    assert.deepEqual(links(pod), ['lo'])
  })
}

/** The plugin with a deadline: a hang is a failure, not a stuck test run. */
function bounded(node: Node, e: CniEnv, stdin: string | object): Run {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH }
  for (const [k, v] of Object.entries(e)) if (v !== undefined) env[k] = v
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin)
  const r = spawnSync('ip', ['netns', 'exec', node.ns, dist('flannel')], { input, env, encoding: 'utf8', timeout: 20000, killSignal: 'SIGKILL' })
  assert.equal(r.signal, null, 'the plugin hung and was killed')
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr }
}

const SUBNET = (sub: string, more = '') => `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${sub}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n${more}`
const c31 = (n: Node, extra: Record<string, unknown>) => ({ ...conf(n, '0.3.1'), ...extra })
const del =
  (extra: Partial<CniEnv> = {}) =>
  (p: string) => ({ ...podEnv('DEL', 'bad1', p), ...extra })
const add =
  (extra: Partial<CniEnv> = {}) =>
  (p: string) => ({ ...podEnv('ADD', 'bad1', p), ...extra })

describe('bad input is refused and changes nothing', () => {
  refused('malformed JSON', { stdin: () => '{"name": "cbr0",', code: 6, msg: /^error unmarshall network config: / })
  refused('non-object JSON', { stdin: () => '["cbr0"]', code: 6, msg: /cannot unmarshal array/ })
  refused('stdin over 1 MiB', { stdin: (n) => ({ ...conf(n, '0.3.1'), pad: 'x'.repeat(1 << 20) }), code: 5, msg: /larger than 1048576 bytes/ })
  refused('container ID ../../etc/x', { env: (p) => ({ ...podEnv('ADD', '../../etc/x', p) }), code: 4, msg: /^invalid characters in containerID$/ })
  refused('container ID with /', { env: (p) => ({ ...podEnv('ADD', 'abc/def', p) }), code: 4, msg: /^invalid characters in containerID$/ })
  refused('container ID ../../etc/x on DEL', { env: (p) => ({ ...podEnv('DEL', '../../etc/x', p) }), code: 4 })
  refused('interface name of 16 bytes', { env: (p) => ({ ...podEnv('ADD', 'bad1', p), CNI_IFNAME: 'e'.repeat(16) }), code: 4, msg: /^interface name is too long$/ })
  refused('interface name with :', { env: (p) => ({ ...podEnv('ADD', 'bad1', p), CNI_IFNAME: 'eth0:1' }), code: 4, msg: /contains \/ or :/ })
  refused('network name with /', { stdin: (n) => ({ ...conf(n, '0.3.1'), name: 'a/../b' }), code: 7, msg: /^invalid characters found in network name$/ })
  refused('delegate with name', { stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { name: 'x' } }), code: 999, msg: /must not have 'name' field/ })
  refused('delegate with ipam', { stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { ipam: { type: 'host-local' } } }), code: 999, msg: /must not have 'ipam' field/ })
  refused('subnet.env missing (code 11, try again later)', {
    subnetEnv: null,
    code: 11,
    msg: /^failed to load flannel 'subnet.env' file: open .*\/subnet.env: no such file or directory. Check the flannel pod log for this node.$/,
  })
  refused('subnet.env empty', { subnetEnv: '', code: 999, msg: /subnet.env is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET/ })
  refused('subnet.env with a bad CIDR', {
    subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.300/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    code: 999,
    msg: /invalid CIDR address: 10.244.1.300\/24/,
  })
  refused('subnet.env with MTU -1', {
    subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=-1\nFLANNEL_IPMASQ=true\n',
    code: 999,
    msg: /strconv.ParseUint: parsing "-1": invalid syntax/,
  })
  refused('subnet.env with MTU 1e3', {
    subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1e3\nFLANNEL_IPMASQ=true\n',
    code: 999,
    msg: /parsing "1e3": invalid syntax/,
  })
  refused('a dataDir that is a file', { setup: (n) => writeFileSync(n.dataDir, 'not a dir'), code: 999, msg: /^dataDir ".*\/data" exists and is not a directory$/ })
  refused('a delegate type not in CNI_PATH', {
    stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { type: 'no-such-plugin' } }),
    code: 999,
    msg: /^failed to delegate add: failed to find plugin "no-such-plugin" in path \[\/usr\/lib\/cni\]$/,
  })
  refused('a delegate type that is a path', { stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { type: '../../bin/true' } }), code: 999, msg: /invalid plugin name/ })
  refused('a delegate that is not a string type', { stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { type: 7 } }), msg: /must have \(string\) 'type' field/ })
  refused('an unsupported cniVersion', { stdin: (n) => conf(n, '0.5.0'), code: 1, msg: /^incompatible CNI versions$/ })
  refused('missing env variables', {
    env: () => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bad1' }),
    code: 4,
    msg: /^required env variables \[CNI_NETNS,CNI_IFNAME,CNI_PATH\] missing$/,
  })
  refused('CHECK below 0.4.0', { env: (p) => podEnv('CHECK', 'bad1', p), code: 1, msg: /^config version does not allow CHECK$/ })
  refused('a dataDir that is a file, on DEL', { env: (p) => podEnv('DEL', 'bad1', p), setup: (n) => writeFileSync(n.dataDir, 'x'), msg: /not a directory/ })
  refused('ipam.routes malformed', { stdin: (n) => ({ ...conf(n, '0.3.1'), ipam: { routes: [{ dst: 'nope' }] } }), msg: /failed to parse ipam.routes: invalid CIDR address: nope/ })
})

describe('environment', () => {
  refused('CNI_COMMAND in lower case', { env: add({ CNI_COMMAND: 'add' }), code: 4, msg: /^unknown CNI_COMMAND: add$/ })
  refused('container ID starting with a dot', { env: add({ CNI_CONTAINERID: '.hidden' }), code: 4 })
  refused('container ID ..', { env: add({ CNI_CONTAINERID: '..' }), code: 4 })
  refused('container ID with a space', { env: add({ CNI_CONTAINERID: 'a b' }), code: 4 })
  refused('container ID with a newline', { env: add({ CNI_CONTAINERID: 'a\nb' }), code: 4 })
  refused('container ID not ASCII', { env: add({ CNI_CONTAINERID: 'caf\u00e9' }), code: 4 })
  refused('interface name .', { env: add({ CNI_IFNAME: '.' }), code: 4, msg: /is \. or \.\./ })
  refused('interface name ..', { env: add({ CNI_IFNAME: '..' }), code: 4 })
  refused('interface name with a space', { env: add({ CNI_IFNAME: 'eth 0' }), code: 4 })
  refused('interface name with /', { env: add({ CNI_IFNAME: 'a/b' }), code: 4 })
  refused('interface name with a tab', { env: add({ CNI_IFNAME: 'a\tb' }), code: 4 })
  refused('CNI_PATH missing on ADD', { env: add({ CNI_PATH: undefined }), code: 4, msg: /\[CNI_PATH\] missing/ })
  refused('CNI_NETNS missing on ADD', { env: add({ CNI_NETNS: undefined }), code: 4, msg: /\[CNI_NETNS\] missing/ })
  refused('CNI_IFNAME missing on DEL', { env: del({ CNI_IFNAME: undefined }), code: 4, msg: /\[CNI_IFNAME\] missing/ })
  refused("CNI_NETNS the plugin's own namespace, ADD (one document, nothing done)", { env: add({ CNI_NETNS: '/proc/self/ns/net' }), code: 8, msg: /should not be the same/ })
  refused("CNI_NETNS the plugin's own namespace by its /run/netns name", { env: (p) => ({ ...podEnv('ADD', 'bad1', p), CNI_NETNS: '@NODE' }), code: 8 })
  refused("CNI_NETNS the plugin's own namespace, DEL", { env: del({ CNI_NETNS: '/proc/self/ns/net' }), code: 8 })
  refused("CNI_NETNS the plugin's own namespace, CHECK", {
    env: (p) => ({ ...podEnv('CHECK', 'bad1', p), CNI_NETNS: '/proc/self/ns/net' }),
    stdin: (n) => conf(n, '0.4.0'),
    code: 8,
  })
  refused('CNI_NETNS a regular file', { env: add({ CNI_NETNS: '/etc/hostname' }), code: 8, msg: /unknown FS magic/ })
  refused('CNI_NETNS a directory', { env: add({ CNI_NETNS: '/tmp' }), code: 8, msg: /unknown FS magic/ })
  refused('CNI_NETNS /dev/null', { env: add({ CNI_NETNS: '/dev/null' }), code: 8, msg: /unknown FS magic/ })
  refused('CNI_NETNS that does not exist', { env: add({ CNI_NETNS: '/run/netns/weft-no-such-ns' }), code: 8, msg: /no such file or directory/ })
  refused('GC below 1.1.0', { env: () => ({ CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }), stdin: (n) => conf(n, '1.0.0'), code: 1, msg: /does not allow GC/ })
  refused('STATUS below 1.1.0', { env: () => ({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }), stdin: (n) => conf(n, '0.4.0'), code: 1, msg: /does not allow STATUS/ })
  refused('CHECK with no saved config', { env: (p) => podEnv('CHECK', 'bad1', p), stdin: (n) => conf(n, '0.4.0'), code: 3 })
})

describe('network config', () => {
  refused('empty stdin', { stdin: () => '', code: 6 })
  refused('stdin null', { stdin: () => 'null', code: 7, msg: /^missing network name$/ })
  refused('stdin a JSON string', { stdin: () => '"cbr0"', code: 6 })
  refused('stdin a JSON number', { stdin: () => '42', code: 6 })
  refused('name missing', { stdin: (n) => c31(n, { name: undefined }), code: 7 })
  refused('name a number', { stdin: (n) => c31(n, { name: 7 }), code: 6 })
  refused('name empty', { stdin: (n) => c31(n, { name: '' }), code: 7 })
  refused('name with a space', { stdin: (n) => c31(n, { name: 'c br' }), code: 7 })
  refused('cniVersion a number', { stdin: (n) => c31(n, { cniVersion: 1 }), code: 6 })
  refused('cniVersion 1.1', { stdin: (n) => c31(n, { cniVersion: '1.1' }), code: 1 })
  refused('cniVersion with four parts', { stdin: (n) => c31(n, { cniVersion: '1.0.0.0' }), code: 1 })
  refused('cniVersion not a version', { stdin: (n) => c31(n, { cniVersion: 'abc' }), code: 1 })
  refused('subnetFile a number', { stdin: (n) => c31(n, { subnetFile: 5 }), code: 999, msg: /NetConf.subnetFile of type string/ })
  refused('dataDir an array', { stdin: (n) => c31(n, { dataDir: ['/tmp'] }), code: 999, msg: /NetConf.dataDir/ })
  refused('delegate a string', { stdin: (n) => c31(n, { delegate: 'bridge' }), code: 999, msg: /NetConf.delegate/ })
  refused('delegate an array', { stdin: (n) => c31(n, { delegate: [] }), code: 999, msg: /NetConf.delegate/ })
  refused('ipam a string', { stdin: (n) => c31(n, { ipam: 'host-local' }), code: 999, msg: /NetConf.ipam/ })
  refused('runtimeConfig a number', { stdin: (n) => c31(n, { runtimeConfig: 1 }), code: 999, msg: /NetConf.runtimeConfig/ })
  refused('capabilities a string', { stdin: (n) => c31(n, { capabilities: 'all' }), code: 999, msg: /NetConf.capabilities/ })
  refused('a capability that is not a bool', { stdin: (n) => c31(n, { capabilities: { portMappings: 'yes' } }), code: 999, msg: /NetConf.capabilities of type bool/ })
  refused('dns a string', { stdin: (n) => c31(n, { dns: '8.8.8.8' }), code: 999, msg: /NetConf.dns/ })
  refused('dns.nameservers a string', { stdin: (n) => c31(n, { dns: { nameservers: '8.8.8.8' } }), code: 999, msg: /dns.nameservers/ })
  refused('prevResult a string', { stdin: (n) => c31(n, { prevResult: 'x' }), code: 999, msg: /NetConf.prevResult/ })
  refused('ipam.routes an object', { stdin: (n) => c31(n, { ipam: { routes: { dst: '0.0.0.0/0' } } }), msg: /cannot unmarshal object into Go value of type \[\]types.Route/ })
  refused('ipam.routes with a bad gw', { stdin: (n) => c31(n, { ipam: { routes: [{ dst: '10.0.0.0/8', gw: '10.0.0.300' }] } }), msg: /invalid IP address/ })
  refused('ipam.routes with prefix 33', { stdin: (n) => c31(n, { ipam: { routes: [{ dst: '10.0.0.0/33' }] } }), msg: /invalid CIDR address/ })
  refused('ipam.routes with an mtu string', { stdin: (n) => c31(n, { ipam: { routes: [{ dst: '10.0.0.0/8', mtu: '1400' }] } }), msg: /route.mtu/ })
  refused('ipam.routes element a string', { stdin: (n) => c31(n, { ipam: { routes: ['10.0.0.0/8'] } }), msg: /cannot unmarshal string/ })
  refused('GC valid-attachments not a list', {
    env: () => ({ CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }),
    stdin: (n) => ({ ...conf(n, '1.1.0'), 'cni.dev/valid-attachments': 'all' }),
    code: 999,
  })
  refused('GC valid-attachments element a string', {
    env: () => ({ CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }),
    stdin: (n) => ({ ...conf(n, '1.1.0'), 'cni.dev/valid-attachments': ['x'] }),
    code: 999,
  })
})

describe('delegate', () => {
  refused('delegate type empty', { stdin: (n) => c31(n, { delegate: { type: '' } }), msg: /no plugin name provided/ })
  refused('delegate type .', { stdin: (n) => c31(n, { delegate: { type: '.' } }), msg: /invalid plugin name/ })
  refused('delegate type ..', { stdin: (n) => c31(n, { delegate: { type: '..' } }), msg: /invalid plugin name/ })
  refused('delegate type with a NUL', { stdin: (n) => c31(n, { delegate: { type: 'bri\u0000dge' } }), msg: /failed to find plugin/ })
  refused('delegate mtu "abc"', {
    stdin: (n) => c31(n, { delegate: { mtu: 'abc' } }),
    code: 7,
    msg: /delegate field "mtu": json: cannot unmarshal string into Go struct field NetConf.mtu of type int/,
  })
  refused('delegate MTU "abc" (Go matches keys case-insensitively)', { stdin: (n) => c31(n, { delegate: { MTU: 'abc' } }), code: 7, msg: /"MTU"/ })
  refused('delegate mtu 1.5', { stdin: (n) => c31(n, { delegate: { mtu: 1.5 } }), code: 7, msg: /number 1.5/ })
  refused('delegate mtu -1', { stdin: (n) => c31(n, { delegate: { mtu: -1 } }), code: 7, msg: /is not an MTU/ })
  refused('delegate isGateway "true"', { stdin: (n) => c31(n, { delegate: { isGateway: 'true' } }), code: 7, msg: /NetConf.isGateway of type bool/ })
  refused('delegate hairpinMode 1', { stdin: (n) => c31(n, { delegate: { hairpinMode: 1 } }), code: 7 })
  refused('delegate ipMasq "yes"', { stdin: (n) => c31(n, { delegate: { ipMasq: 'yes' } }), code: 7 })
  refused('delegate vlan 5000', { stdin: (n) => c31(n, { delegate: { vlan: 5000 } }), code: 7, msg: /invalid VLAN ID 5000/ })
  refused('delegate vlan "1"', { stdin: (n) => c31(n, { delegate: { vlan: '1' } }), code: 7 })
  refused('delegate bridge a number', { stdin: (n) => c31(n, { delegate: { bridge: 7 } }), code: 7 })
  refused('delegate dns a string', { stdin: (n) => c31(n, { delegate: { dns: 'x' } }), code: 7 })
  refused('delegate capabilities a list', { stdin: (n) => c31(n, { delegate: { capabilities: [] } }), code: 7 })
})

describe('subnet file', () => {
  const loopDir = scope.tmp('loop')
  refused('subnetFile /dev/zero (no hang, no unbounded read)', { stdin: (n) => c31(n, { subnetFile: '/dev/zero' }), code: 999, msg: /not a regular file/ })
  refused('subnetFile a symlink to /dev/zero', {
    setup: (n) => symlinkSync('/dev/zero', join(n.dir, 'zero')),
    stdin: (n) => c31(n, { subnetFile: join(n.dir, 'zero') }),
    code: 999,
    msg: /not a regular file/,
  })
  refused('subnetFile a FIFO with no writer (no hang)', {
    setup: (n) => must(['mkfifo', join(n.dir, 'fifo')]),
    stdin: (n) => c31(n, { subnetFile: join(n.dir, 'fifo') }),
    code: 999,
    msg: /not a regular file/,
  })
  refused('subnetFile a directory', { stdin: (n) => c31(n, { subnetFile: n.dir }), code: 999, msg: /is a directory/ })
  refused('subnetFile over 64 KiB', {
    setup: (n) => writeFileSync(join(n.dir, 'big'), SUBNET('10.244.1.1/24', '#'.repeat(70000))),
    stdin: (n) => c31(n, { subnetFile: join(n.dir, 'big') }),
    code: 999,
    msg: /larger than 65536 bytes/,
  })
  refused('subnetFile empty string', { stdin: (n) => c31(n, { subnetFile: '' }), code: 11 })
  // outside node.dir: the snapshot of node.dir must not follow it
  refused('subnetFile a symlink loop', {
    setup: (n) => symlinkSync(join(loopDir, n.ns), join(loopDir, n.ns)),
    stdin: (n) => c31(n, { subnetFile: join(loopDir, n.ns) }),
    code: 999,
    msg: /too many levels of symbolic links/,
  })
  refused('subnet.env with a /31 subnet (host-local could never allocate from it, nor DEL)', { subnetEnv: SUBNET('10.244.1.0/31'), code: 999, msg: /too small to allocate from/ })
  refused('subnet.env with a /32 subnet', { subnetEnv: SUBNET('10.244.1.1/32'), code: 999, msg: /too small/ })
  refused('subnet.env with an IPv6 /127 subnet', {
    subnetEnv: 'FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00::/127\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    code: 999,
    msg: /FLANNEL_IPV6_SUBNET .* too small/,
  })
  refused('subnet.env with MTU past uint32', {
    subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=4294967296\nFLANNEL_IPMASQ=true\n',
    msg: /value out of range/,
  })
  refused('subnet.env without FLANNEL_SUBNET', { subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', msg: /missing FLANNEL_SUBNET/ })
  refused('subnet.env with a bad FLANNEL_NETWORK', { subnetEnv: SUBNET('10.244.1.1/24').replace('10.244.0.0/16', '10.244.0.0/99'), msg: /invalid CIDR address/ })
  refused('subnet.env of binary garbage', { subnetEnv: '\u0000\u0001\u00ff\u00fe'.repeat(50), msg: /is missing FLANNEL_NETWORK/ })
})

for (const [what, bytes] of [
  ['empty', ''],
  ['unparsable', '{"cniVersion":'],
  ['non-object', '[1]'],
]) {
  test(`DEL of an ${what} scratch file succeeds and removes it with a warning (flannel#1662)`, () => {
    const node = makeNode(scope)
    const pod = scope.ns('cb')
    mkdirSync(node.dataDir, { mode: 0o700 })
    writeFileSync(join(node.dataDir, 'empty1'), bytes)
    const r = plugin(node, podEnv('DEL', 'empty1', pod), conf(node, '0.3.1'))
    assert.deepEqual([r.code, r.stdout], [0, ''])
    assert.match(r.stderr, /failed to parse netconf: .*\nremoving the unusable scratch file of empty1\n/s)
    assert.ok(!existsSync(join(node.dataDir, 'empty1')))
  })
}

test('a delegate that cannot be executed: CNI error, no scratch file left', () => {
  const node = makeNode(scope)
  const pod = scope.ns('cb')
  const bin = join(node.dir, 'bin')
  mkdirSync(bin)
  writeFileSync(join(bin, 'bridge'), 'not a program') // a regular file without the exec bit
  const before = tree(node.dir)
  const r = plugin(node, { ...podEnv('ADD', 'noexec1', pod), CNI_PATH: bin }, conf(node, '0.3.1'))
  assert.equal(r.code, 1)
  assert.deepEqual(JSON.parse(r.stdout), { code: 999, msg: `failed to delegate add: fork/exec ${join(bin, 'bridge')}: permission denied` })
  // the data dir may now exist (mkdir -p), but holds no file
  assert.deepEqual(
    tree(node.dir).filter((f) => !f.endsWith('/')),
    before.filter((f) => !f.endsWith('/')),
  )
})
