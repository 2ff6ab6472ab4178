// 20 pods ADDed at once in one node netns (host-local's lock and bridge's EEXIST handling under
// load), then 20 DELs at once: distinct addresses, and nothing left behind.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { Scope } from '../helpers/scope.ts'
import { addrs, conf, ipFiles, links, makeNode, pluginAsync, podEnv } from './cni-helpers.ts'

const scope = new Scope()
after(() => scope.close())

test('20 ADDs in parallel give 20 distinct addresses; 20 DELs leave nothing', async () => {
  const node = makeNode(scope)
  const pods = Array.from({ length: 20 }, () => scope.ns('cq'))
  const c = conf(node, '1.0.0')
  const adds = await Promise.all(pods.map((p, i) => pluginAsync(node, podEnv('ADD', `par${i}`, p), c)))
  for (const r of adds) assert.equal(r.code, 0, r.stdout + r.stderr)
  const got = adds.map((r) => JSON.parse(r.stdout).ips[0].address as string)
  assert.equal(new Set(got).size, 20)
  for (const a of got) assert.match(a, /^10\.244\.1\.\d+\/24$/)
  // what the kernel has matches what was reported
  assert.deepEqual(
    pods.map((p) => addrs(p, 'eth0')[0]),
    got,
  )
  assert.equal(ipFiles(node).length, 20)
  assert.equal(readdirSync(node.dataDir).length, 20)
  assert.equal(links(node.ns).filter((l) => l.startsWith('veth')).length, 20)

  const dels = await Promise.all(pods.map((p, i) => pluginAsync(node, podEnv('DEL', `par${i}`, p), c)))
  for (const r of dels) assert.deepEqual([r.code, r.stdout], [0, ''], r.stderr)
  assert.deepEqual(ipFiles(node), [])
  assert.deepEqual(readdirSync(node.dataDir), [])
  assert.deepEqual(links(node.ns), ['cni0', 'lo'])
  for (const p of pods) assert.deepEqual(links(p), ['lo'])
})
