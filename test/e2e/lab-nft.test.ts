// The lab with EnableNFTables: flanneld passes it to the masquerade installer, which programs
// flannel's nftables table instead of iptables chains.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Lab, OUTSIDE_IP } from '../../scripts/lib/lab.ts'
import { run } from '../../scripts/lib/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), nftables: true })
before(async () => {
  await lab.up()
  for (let i = 0; i < 2; i++) await lab.addNode()
  for (const n of lab.nodes) lab.startFlanneld(n)
  for (const n of lab.nodes) await lab.waitReady(n)
  for (const n of lab.nodes) await lab.addPod(n)
})
after(async () => {
  await lab.down()
})

test('EnableNFTables: the node holds table ip flannel-ipv4 and no FLANNEL-POSTRTG chain', async () => {
  const n = lab.nodes[0]
  const pod = lab.subnetOf(n).replace(/\.1\//, '.0/')
  await lab.until('the nft table', async () => (await run(['ip', 'netns', 'exec', n.ns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4'], { nothrow: true })).code === 0, 10000)
  const table = (await run(['ip', 'netns', 'exec', n.ns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4'])).stdout
  assert.match(table, new RegExp(`ip saddr ${pod.replace(/\./g, '\\.')} ip daddr 10\\.244\\.0\\.0/16 return`))
  assert.match(table, /ip saddr 10\.244\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade fully-random/)
  const chains = (await run(['ip', 'netns', 'exec', n.ns, 'iptables-save', '-t', 'nat'], { nothrow: true })).stdout
  assert.doesNotMatch(chains, /FLANNEL-POSTRTG/)
})

test('EnableNFTables: a pod reaches the outside host from its node address, another pod from its own', async () => {
  const [a, b] = lab.pods
  const out = lab.startWhoAmI(lab.out, OUTSIDE_IP)
  const srv = lab.startWhoAmI(b.ns, b.ip)
  await new Promise((r) => setTimeout(r, 300))
  assert.equal(await lab.sourceSeen(a.ns, OUTSIDE_IP), a.node.ip)
  assert.equal(await lab.sourceSeen(a.ns, b.ip), a.ip)
  out.kill()
  srv.kill()
})
