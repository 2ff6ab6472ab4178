// weft-lab --kube: the same lab, table and checks on the Kubernetes API test double instead of
// etcd (flanneld --kube-subnet-mgr, Nodes with podCIDRs as a controller-manager gives them), also
// in dual stack (--ipv6: podCIDRs of both families).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { Scope, sh, dist } from '../helpers/scope.ts'
import { idOf, netnsOf } from '../helpers/lab-cli.ts'

const scope = new Scope()
after(() => scope.close())

test('weft-lab --kube: 3 nodes take their podCIDRs, every check passes, the doctor reads the API, everything is removed', () => {
  const r = sh([process.execPath, dist('weft-lab'), '--kube', '--nodes', '3', '--pods', '1'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /backend host-gw, Kubernetes mode/)
  assert.match(r.stdout, /Kubernetes API test double on https:\/\/192\.168\.77\.1:6443/)
  for (const i of [1, 2, 3]) assert.match(r.stdout, new RegExp(`^node${i} +192\\.168\\.77\\.1${i} +10\\.244\\.${i}\\.1/24 +pod1 10\\.244\\.${i}\\.2$`, 'm'))
  assert.match(r.stdout, /node3-pod1 +-> ok {2}node1-pod1/)
  // The doctor's table for node1, its desired state read from the API double.
  assert.match(r.stdout, /^weft-doctor on node1: +ip netns exec \S+ env NODE_NAME=node1 weft-doctor --kube-subnet-mgr --kubeconfig-file=/m)
  assert.match(r.stdout, /^registry +ok +Kubernetes API https:\/\/192\.168\.77\.1:6443 answered/m)
  assert.match(r.stdout, /^annotations +ok +Node node1: backend-type host-gw, backend-data null, public-ip 192\.168\.77\.11/m)
  assert.match(r.stdout, /^routes +ok +2 peer route\(s\) via eth0, all in place/m)
  assert.match(r.stdout, /all checks passed\nlab removed\n$/)
  const id = idOf(r.stdout)
  assert.deepEqual(netnsOf(id), [])
  assert.equal(existsSync(`/tmp/weft-lab-${id}`), false)
})

test('weft-lab --kube --backend vxlan: every check passes over flannel.1', () => {
  const r = sh([process.execPath, dist('weft-lab'), '--kube', '--backend', 'vxlan', '--nodes', '2', '--pods', '1'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /"Backend":\{"Type":"vxlan"\}/)
  assert.match(r.stdout, /all checks passed\nlab removed\n$/)
})

test('weft-lab --kube --ipv6: Nodes get podCIDRs of both families, every IPv4 and IPv6 check passes', () => {
  const r = sh([process.execPath, dist('weft-lab'), '--kube', '--ipv6', '--nodes', '2', '--pods', '1'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /"EnableIPv6":true,"IPv6Network":"fd44::\/56"/)
  for (const i of [1, 2]) assert.match(r.stdout, new RegExp(`^ +fd77::1${i} +fd44:0:0:${i}::/64 +pod1 fd44:0:0:${i}::2$`, 'm'))
  // The doctor's table (node1): the IPv6 annotations as host-gw publishes them.
  assert.match(r.stdout, /^annotations v6 +ok +Node node1: backend-v6-data null, public-ipv6 fd77::11, as this node publishes them/m)
  assert.match(r.stdout, /IPv6 pod-to-pod \(ping -6\):\n {2}node1-pod1 +-> ok {2}node2-pod1\n {2}node2-pod1 +-> ok {2}node1-pod1\n/)
  assert.match(r.stdout, /all checks passed\nlab removed\n$/)
  assert.deepEqual(netnsOf(idOf(r.stdout)), [])
})
