// Bad input, each a named case: a CNI error JSON on stdout, a non-zero exit, no stack trace, and
// nothing created (no file under the test dir, no link in the node or the pod netns).
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope } from '../helpers/scope.ts'
import { conf, links, makeNode, plugin, podEnv, tree, type CniEnv, type Node } from './cni-helpers.ts'

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
    const r = plugin(node, c.env ? c.env(pod) : podEnv('ADD', 'bad1', pod), c.stdin ? c.stdin(node) : conf(node, '0.3.1'))
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
  refused('subnet.env with a bad CIDR', { subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.300/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', code: 999, msg: /invalid CIDR address: 10.244.1.300\/24/ })
  refused('subnet.env with MTU -1', { subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=-1\nFLANNEL_IPMASQ=true\n', code: 999, msg: /strconv.ParseUint: parsing "-1": invalid syntax/ })
  refused('subnet.env with MTU 1e3', { subnetEnv: 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1e3\nFLANNEL_IPMASQ=true\n', code: 999, msg: /parsing "1e3": invalid syntax/ })
  refused('a dataDir that is a file', { setup: (n) => writeFileSync(n.dataDir, 'not a dir'), code: 999, msg: /^dataDir ".*\/data" exists and is not a directory$/ })
  refused('a delegate type not in CNI_PATH', {
    stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { type: 'no-such-plugin' } }),
    code: 999,
    msg: /^failed to delegate add: failed to find plugin "no-such-plugin" in path \[\/usr\/lib\/cni\]$/,
  })
  refused('a delegate type that is a path', { stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { type: '../../bin/true' } }), code: 999, msg: /invalid plugin name/ })
  refused('a delegate that is not a string type', { stdin: (n) => ({ ...conf(n, '0.3.1'), delegate: { type: 7 } }), msg: /must have \(string\) 'type' field/ })
  refused('an unsupported cniVersion', { stdin: (n) => conf(n, '0.5.0'), code: 1, msg: /^incompatible CNI versions$/ })
  refused('missing env variables', { env: () => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bad1' }), code: 4, msg: /^required env variables \[CNI_NETNS,CNI_IFNAME,CNI_PATH\] missing$/ })
  refused('CHECK below 0.4.0', { env: (p) => podEnv('CHECK', 'bad1', p), code: 1, msg: /^config version does not allow CHECK$/ })
  refused('a dataDir that is a file, on DEL', { env: (p) => podEnv('DEL', 'bad1', p), setup: (n) => writeFileSync(n.dataDir, 'x'), msg: /not a directory/ })
  refused('ipam.routes malformed', { stdin: (n) => ({ ...conf(n, '0.3.1'), ipam: { routes: [{ dst: 'nope' }] } }), msg: /failed to parse ipam.routes: invalid CIDR address: nope/ })
})

test('DEL of an unparsable scratch file succeeds and keeps the file (flannel#1662)', () => {
  const node = makeNode(scope)
  const pod = scope.ns('cb')
  mkdirSync(node.dataDir, { mode: 0o700 })
  writeFileSync(join(node.dataDir, 'empty1'), '')
  const r = plugin(node, podEnv('DEL', 'empty1', pod), conf(node, '0.3.1'))
  assert.deepEqual([r.code, r.stdout], [0, ''])
  assert.match(r.stderr, /failed to parse netconf: /)
  assert.deepEqual(tree(node.dir).filter((f) => f.includes('empty1')), [`${join(node.dataDir, 'empty1')} 0`])
})

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
  assert.deepEqual(tree(node.dir).filter((f) => !f.endsWith('/')), before.filter((f) => !f.endsWith('/')))
})
