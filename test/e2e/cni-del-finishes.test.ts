// A DEL always finishes (issue 13 items 1 and 4): saved configs the delegate refuses are removed
// with a warning instead of failing every DEL and GC forever; a 1.1.0 conflist works with a
// delegate that stops at 1.0.0; a plugin killed at any point of an ADD leaves nothing a DEL
// does not remove.
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, dist, waitFor } from '../helpers/scope.ts'
import { conf, ipFiles, links, makeNode, plugin, podEnv, type Node } from './cni-helpers.ts'

const scope = new Scope()
after(() => scope.close())

const bridgeConf = (node: Node, extra: Record<string, unknown>) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    hairpinMode: true,
    ipMasq: false,
    ipam: { dataDir: node.ipamDir, ranges: [[{ subnet: '10.244.1.0/24' }]], routes: [{ dst: '10.244.0.0/16' }], type: 'host-local' },
    isGateway: true,
    mtu: 1450,
    name: 'cbr0',
    type: 'bridge',
    ...extra,
  })

describe('a 1.1.0 conflist with a delegate that stops at 1.0.0 (Debian bridge)', () => {
  test('ADD sends 1.0.0, the highest version both support, and answers a 1.1.0 result; DEL leaves nothing', () => {
    const node = makeNode(scope)
    const pod = scope.ns('cv')
    const r = plugin(node, podEnv('ADD', 'v11', pod), conf(node, '1.1.0'))
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.equal(JSON.parse(r.stdout).cniVersion, '1.1.0')
    assert.match(r.stderr, /delegate bridge does not support cniVersion 1\.1\.0: using 1\.0\.0/)
    assert.equal(JSON.parse(readFileSync(join(node.dataDir, 'v11'), 'utf8')).cniVersion, '1.0.0')
    assert.deepEqual(ipFiles(node), ['10.244.1.2'])
    const d = plugin(node, podEnv('DEL', 'v11', pod), conf(node, '1.1.0'))
    assert.deepEqual([d.code, d.stdout], [0, ''], d.stderr)
    assert.deepEqual(readdirSync(node.dataDir), [])
    assert.deepEqual(ipFiles(node), [])
    assert.deepEqual(links(pod), ['lo'])
  })
})

// Scratch files the delegate refuses, as flannel (or weft before issue 13) left them after a
// failed ADD: each used to fail every DEL and GC, leaving the pod stuck terminating.
const refusedConfigs: [string, (n: Node) => string][] = [
  ['cniVersion 1.1.0 (bridge stops at 1.0.0)', (n) => bridgeConf(n, { cniVersion: '1.1.0' })],
  ['"mtu": "abc"', (n) => bridgeConf(n, { mtu: 'abc' })],
  ['a /31 range', (n) => bridgeConf(n, { ipam: { dataDir: n.ipamDir, ranges: [[{ subnet: '10.244.1.0/31' }]], type: 'host-local' } })],
]

describe('DEL and GC of a saved config the delegate refuses: finished, file removed, said on stderr', () => {
  for (const [what, bytes] of refusedConfigs) {
    test(`DEL: ${what}`, () => {
      const node = makeNode(scope)
      const pod = scope.ns('cf')
      mkdirSync(node.dataDir, { mode: 0o700 })
      writeFileSync(join(node.dataDir, 'stuck1'), bytes(node))
      const r = plugin(node, podEnv('DEL', 'stuck1', pod), conf(node, '1.0.0'))
      assert.deepEqual([r.code, r.stdout], [0, ''], r.stderr)
      assert.match(r.stderr, /the delegate refuses the config saved for stuck1 \(.+\): it refused it at ADD too and created nothing with it; scratch file removed/)
      assert.ok(!existsSync(join(node.dataDir, 'stuck1')))
      const again = plugin(node, podEnv('DEL', 'stuck1', pod), conf(node, '1.0.0'))
      assert.deepEqual([again.code, again.stdout], [0, ''])
    })
    test(`GC: ${what}`, () => {
      const node = makeNode(scope)
      mkdirSync(node.dataDir, { mode: 0o700 })
      writeFileSync(join(node.dataDir, 'stuck2'), bytes(node))
      const r = plugin(node, { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, { ...conf(node, '1.1.0'), 'cni.dev/valid-attachments': [] })
      assert.deepEqual([r.code, r.stdout], [0, ''], r.stderr)
      assert.match(r.stderr, /GC: the delegate refuses the config saved for stuck2/)
      assert.deepEqual(readdirSync(node.dataDir), [])
    })
  }

  test('GC removes an empty scratch file and a temp file left by a killed ADD', () => {
    const node = makeNode(scope)
    mkdirSync(node.dataDir, { mode: 0o700 })
    writeFileSync(join(node.dataDir, 'empty2'), '')
    writeFileSync(join(node.dataDir, '.killed1.tmp'), '{"cniV')
    const r = plugin(node, { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, { ...conf(node, '1.1.0'), 'cni.dev/valid-attachments': [] })
    assert.deepEqual([r.code, r.stdout], [0, ''], r.stderr)
    assert.deepEqual(readdirSync(node.dataDir), [])
  })

  test('a DEL whose CNI_NETNS is not a namespace still releases the address and the file', () => {
    const node = makeNode(scope)
    const pod = scope.ns('cf')
    assert.equal(plugin(node, podEnv('ADD', 'nsf1', pod), conf(node, '1.0.0')).code, 0)
    const r = plugin(node, { ...podEnv('DEL', 'nsf1', pod), CNI_NETNS: '/etc/hostname' }, conf(node, '1.0.0'))
    assert.deepEqual([r.code, r.stdout], [0, ''], r.stderr)
    assert.match(r.stderr, /is not a network namespace/)
    assert.deepEqual(ipFiles(node), [])
    assert.deepEqual(readdirSync(node.dataDir), [])
  })
})

/** PIDs of processes (the plugin, or a delegate it left running) working for this container. */
function workingFor(id: string): number[] {
  const out: number[] = []
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      if (readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(`CNI_CONTAINERID=${id}`)) out.push(Number(p))
    } catch {}
  }
  return out
}

describe('kill -9 of the plugin at random points in 50 ADDs', () => {
  test('then DEL: no scratch or temp file, no address, no interface left', { timeout: 300_000 }, async () => {
    const node = makeNode(scope)
    const pods = [scope.ns('ck'), scope.ns('ck'), scope.ns('ck')]
    const tag = Math.random().toString(36).slice(2, 8)
    const env = (cmd: string, id: string, pod: string) => ({ PATH: process.env.PATH, ...podEnv(cmd, id, pod) })
    const input = JSON.stringify(conf(node, '1.0.0'))
    let killedEarly = 0
    for (let i = 0; i < 50; i++) {
      const id = `k${tag}${i}`
      const pod = pods[i % pods.length]
      const p = spawn('ip', ['netns', 'exec', node.ns, dist('flannel')], { env: env('ADD', id, pod), stdio: ['pipe', 'ignore', 'ignore'] })
      const closed = new Promise<number | null>((res) => p.on('close', (code) => res(code)))
      p.stdin.end(input)
      // A random point of the ADD: start-up, subnet.env, scratch write, delegate, result.
      await new Promise((res) => setTimeout(res, Math.random() * 120)) // allow-timer: the kill lands at a random point of the ADD, on purpose
      p.kill('SIGKILL')
      if ((await closed) === null) killedEarly++
      await waitFor(`no process left working for ${id}`, () => workingFor(id).length === 0, 20000)
      const d = plugin(node, podEnv('DEL', id, pod), conf(node, '1.0.0'))
      assert.deepEqual([d.code, d.stdout], [0, ''], `${id}: ${d.stdout} ${d.stderr}`)
      assert.deepEqual(existsSync(node.dataDir) ? readdirSync(node.dataDir) : [], [], id)
      assert.deepEqual(ipFiles(node), [], id)
      assert.deepEqual(links(pod), ['lo'], id)
    }
    assert.ok(killedEarly >= 10, `only ${killedEarly} of 50 ADDs were killed before they finished`)
  })
})
