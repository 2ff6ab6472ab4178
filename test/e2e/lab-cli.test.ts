// README command 1's bundle as a user runs it: dist/weft-lab, its --keep/--destroy, and what it
// says when something is missing.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, symlinkSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, sh, dist } from '../helpers/scope.ts'
import { idOf, netnsOf } from '../helpers/lab-cli.ts'

const scope = new Scope()
after(() => scope.close())

test('weft-lab runs a cluster, prints the table and every check, and removes everything', () => {
  const r = sh([process.execPath, dist('weft-lab'), '--nodes', '2', '--pods', '1'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /^node1 +192\.168\.77\.11 +10\.244\.\d+\.1\/24 +pod1 10\.244\.\d+\.2$/m)
  assert.match(r.stdout, /node1-pod1 +-> ok {2}node2-pod1/)
  assert.match(r.stdout, /it sees 192\.168\.77\.11 \(masqueraded to node1's address\)/)
  // The doctor's table for node1, healthy.
  assert.match(r.stdout, /weft-doctor on node1: +ip netns exec \S+ weft-doctor --etcd-endpoints=/)
  assert.match(r.stdout, /^routes +ok +1 peer route\(s\) via eth0, all in place/m)
  assert.match(r.stdout, /^readiness +ok +\/readyz 200/m)
  assert.match(r.stdout, /\n0 failed, \d+ warnings, \d+ ok\n/)
  assert.match(r.stdout, /all checks passed\nlab removed\n$/)
  const id = idOf(r.stdout)
  assert.deepEqual(netnsOf(id), [])
  assert.equal(existsSync(`/tmp/weft-lab-${id}`), false)
})

test('weft-lab --backend vxlan --ipv6 --direct-routing: dual stack over vxlan with direct IPv4 routes, every check passes', () => {
  const r = sh([process.execPath, dist('weft-lab'), '--nodes', '2', '--pods', '1', '--backend', 'vxlan', '--ipv6', '--direct-routing'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /backend vxlan \(DirectRouting\)/)
  assert.match(r.stdout, /"Backend":\{"Type":"vxlan","DirectRouting":true\}/)
  assert.match(r.stdout, /IPv6 pod-to-pod \(ping -6\):\n +node1-pod1 +-> ok {2}node2-pod1/)
  assert.match(r.stdout, /all checks passed\nlab removed\n$/)
  assert.deepEqual(netnsOf(idOf(r.stdout)), [])
})

test('--keep leaves the cluster running; --destroy <id> removes it', () => {
  const r = sh([process.execPath, dist('weft-lab'), '--nodes', '2', '--pods', '1', '--keep'])
  const id = idOf(r.stdout)
  scope.onClose(() => sh([process.execPath, dist('weft-lab'), '--destroy', id]))
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, new RegExp(`--destroy ${id}`))
  assert.equal(netnsOf(id).length, 6)
  const routes = sh(['ip', '-n', `wl-${id}-n1`, 'route']).stdout
  assert.match(routes, /10\.244\.\d+\.0\/24 via 192\.168\.77\.12 dev eth0/)
  const d = sh([process.execPath, dist('weft-lab'), '--destroy', id])
  assert.equal(d.code, 0, d.stderr)
  assert.deepEqual(netnsOf(id), [])
  assert.equal(sh(['pgrep', '-f', `/tmp/weft-lab-${id}/`]).stdout.trim(), '', 'no process of the lab left')
})

test('bad input: --destroy of an unknown or hostile id, --nodes out of range, --direct-routing without vxlan', () => {
  const a = sh([process.execPath, dist('weft-lab'), '--destroy', 'zzzzz'])
  assert.equal(a.code, 1)
  assert.match(a.stderr, /no lab zzzzz/)
  const b = sh([process.execPath, dist('weft-lab'), '--destroy', '../../etc'])
  assert.equal(b.code, 1)
  assert.match(b.stderr, /invalid lab id/)
  const c = sh([process.execPath, dist('weft-lab'), '--nodes', '1'])
  assert.equal(c.code, 2)
  assert.match(c.stderr, /--nodes must be between 2 and 20/)
  const d = sh([process.execPath, dist('weft-lab'), '--direct-routing'])
  assert.equal(d.code, 2)
  assert.match(d.stderr, /--direct-routing is a vxlan option/)
})

test('a missing etcd or reference plugin is named with the package that provides it', () => {
  // a PATH with everything but etcd/etcdctl, and a CNI dir without the plugins
  const bin = join(scope.tmp(), 'bin')
  mkdirSync(bin)
  for (const c of ['bash', 'ip', 'iptables', 'ping']) {
    const w = sh(['bash', '-c', `command -v ${c}`]).stdout.trim()
    symlinkSync(w, join(bin, c))
  }
  const r = sh([process.execPath, dist('weft-lab'), '--cni-path', scope.tmp()], { env: { ...process.env, PATH: bin } })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /etcd: apt-get install etcd-server/)
  assert.match(r.stderr, /etcdctl: apt-get install etcd-client/)
  assert.match(r.stderr, /bridge: apt-get install containernetworking-plugins/)
  assert.doesNotMatch(r.stderr, /iptables:/)
})
