// Kubernetes mode as pure functions: our subnet from the Node, flannel's annotations (only what
// changed), the condition, and peer Nodes judged by the same function as etcd leases.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { parseLease, peerProblem } from '../../scripts/lib/formats/lease.ts'
import { parseCidr, parseIp } from '../../scripts/lib/net/cidr.ts'
import { annotationPatch, annotationPrefix, conditionPatch, nodeRecord, nodeSubnets, ourVtepMacs } from '../../scripts/lib/registry/kube/node.ts'
import { rbacRule } from '../../scripts/lib/registry/kube/client.ts'
import type { KubeNode } from '../../scripts/lib/registry/kube/informer.ts'

const P = 'flannel.alpha.coreos.com/'
const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
const dual = parseNetworkConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}')
const node = (name: string, spec: KubeNode['spec'], annotations: Record<string, string> = {}, rv = '7'): KubeNode => ({
  metadata: { name, resourceVersion: rv, annotations },
  spec,
})

test("our subnet: podCIDRs split by family, else podCIDR; unassigned waits with flannel's words", () => {
  assert.deepEqual(nodeSubnets(node('n1', {}), cfg), { wait: 'node "n1" pod cidr not assigned' })
  const one = nodeSubnets(node('n1', { podCIDR: '10.244.3.0/24' }), cfg)
  assert.ok('lease' in one && one.lease.subnet.text === '10.244.3.0/24')
  const two = nodeSubnets(node('n1', { podCIDR: 'fd44:0:0:1::/64', podCIDRs: ['fd44:0:0:1::/64', '10.244.4.0/24'] }), dual)
  assert.ok('lease' in two)
  assert.equal(two.lease.subnet.text, '10.244.4.0/24')
  assert.equal(two.lease.ipv6Subnet?.text, 'fd44:0:0:1::/64')
  assert.match((nodeSubnets(node('n1', { podCIDR: '10.244.4.0/24' }), dual) as { wait: string }).wait, /no IPv6 pod cidr/)
})

test("our subnet: outside the network (or the whole of it) is refused with flannel's message", () => {
  assert.throws(
    () => nodeSubnets(node('n1', { podCIDR: '10.9.0.0/24' }), cfg),
    /subnet "10.244.0.0\/16" specified in the flannel net config doesn't contain "10.9.0.0\/24" PodCIDR of the "n1" node/,
  )
  assert.throws(() => nodeSubnets(node('n1', { podCIDR: '0.0.0.0/0' }), cfg), /doesn't contain "0.0.0.0\/0"/)
  assert.throws(() => nodeSubnets(node('n1', { podCIDR: '10.244.0.0/16' }), cfg), /doesn't contain/)
  assert.throws(() => nodeSubnets(node('n1', { podCIDR: '10.244.1.0/24; rm -rf /' }), cfg), /is not a CIDR/)
})

test("annotations: all of flannel's on a fresh Node; none when nothing changed; overwrite wins", () => {
  const attrs = { publicIp: parseIp('192.168.77.11'), backendType: 'host-gw', backendData: null }
  const said: string[] = []
  const first = annotationPatch({}, attrs, P, (m) => said.push(m))
  assert.deepEqual(first, { [`${P}backend-type`]: 'host-gw', [`${P}backend-data`]: 'null', [`${P}public-ip`]: '192.168.77.11', [`${P}kube-subnet-manager`]: 'true' })
  assert.equal(
    annotationPatch(first!, attrs, P, (m) => said.push(m)),
    undefined,
    'a no-op is not written',
  )
  const over = annotationPatch({ ...first!, [`${P}public-ip-overwrite`]: '203.0.113.5' }, attrs, P, (m) => said.push(m))
  assert.deepEqual(over, { [`${P}public-ip`]: '203.0.113.5' })
  assert.match(said.join('\n'), /Overriding public ip with '203.0.113.5' from node annotation 'flannel.alpha.coreos.com\/public-ip-overwrite'/)
  const bad = annotationPatch({ ...first!, [`${P}public-ip-overwrite`]: '1.2.3.4;reboot' }, attrs, P, (m) => said.push(m))
  assert.equal(bad, undefined, 'a bad overwrite is ignored, said once')
  const vx = annotationPatch(
    {},
    {
      publicIp: parseIp('192.168.77.11'),
      publicIpv6: parseIp('fd77::11'),
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:01' },
      backendV6Data: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:02' },
    },
    P,
    () => {},
  )
  assert.equal(vx![`${P}backend-data`], '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}')
  assert.equal(vx![`${P}backend-v6-data`], '{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}')
  assert.equal(vx![`${P}public-ipv6`], 'fd77::11')
  assert.equal(annotationPrefix('example.com'), 'example.com/')
})

test('condition: NetworkUnavailable False FlannelIsUp, not rewritten when already so', () => {
  const p = conditionPatch(node('n1', {}), new Date('2026-01-02T03:04:05.678Z'))
  assert.deepEqual(p, {
    status: {
      conditions: [
        {
          type: 'NetworkUnavailable',
          status: 'False',
          reason: 'FlannelIsUp',
          message: 'Flannel is running on this node',
          lastTransitionTime: '2026-01-02T03:04:05Z',
          lastHeartbeatTime: '2026-01-02T03:04:05Z',
        },
      ],
    },
  })
  const up = { ...node('n1', {}), status: { conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'FlannelIsUp' }] } }
  assert.equal(conditionPatch(up, new Date()), undefined)
})

test('VtepMAC from our annotation only when it is a plain unicast MAC', () => {
  assert.deepEqual(ourVtepMacs(node('n1', {}, { [`${P}backend-data`]: '{"VNI":1,"VtepMAC":"AA:bb:cc:dd:ee:01"}' }), P), { v4: 'aa:bb:cc:dd:ee:01', v6: undefined })
  assert.equal(ourVtepMacs(node('n1', {}, { [`${P}backend-data`]: '{"VtepMAC":"ff:ff:ff:ff:ff:ff"}' }), P).v4, undefined, 'broadcast/multicast refused')
  assert.equal(ourVtepMacs(node('n1', {}, { [`${P}backend-data`]: '{"VtepMAC":"aa:bb:cc:dd:ee:01 dev lo"}' }), P).v4, undefined)
  assert.equal(ourVtepMacs(undefined, P).v4, undefined)
})

/** A peer Node through nodeRecord, then the etcd lease judge: the reason it is refused, or ''. */
function judge(n: KubeNode): string | undefined {
  const r = nodeRecord(n, P)
  if (!r) return undefined
  try {
    const l = parseLease(r.prefix!, r)
    return peerProblem(l, cfg, parseCidr('10.244.1.0/24')) ?? ''
  } catch (e) {
    return (e as Error).message
  }
}

const managed = (extra: Record<string, string> = {}) => ({
  [`${P}kube-subnet-manager`]: 'true',
  [`${P}backend-type`]: 'host-gw',
  [`${P}backend-data`]: 'null',
  [`${P}public-ip`]: '192.168.77.12',
  ...extra,
})

test("peer Nodes: a good one becomes flannel's lease; unmanaged ones are not peers", () => {
  const r = nodeRecord(node('n2', { podCIDR: '10.244.2.0/24' }, managed(), '42'), P)!
  assert.equal(r.key, 'node/n2/subnets/10.244.2.0-24')
  assert.equal(r.modRevision, 42)
  const l = parseLease(r.prefix!, r)
  assert.equal(l.subnet.text, '10.244.2.0/24')
  assert.equal(l.publicIp.text, '192.168.77.12')
  assert.equal(l.backendType, 'host-gw')
  assert.equal(judge(node('n2', { podCIDR: '10.244.2.0/24' }, managed())), '')
  assert.equal(nodeRecord(node('n3', { podCIDR: '10.244.3.0/24' }, {}), P), undefined)
  assert.equal(nodeRecord(node('n3', { podCIDR: '10.244.3.0/24' }, { [`${P}kube-subnet-manager`]: 'false' }), P), undefined)
})

test('hostile peer Nodes are refused by the etcd lease judge, by name', () => {
  assert.match(judge(node('h1', { podCIDR: '0.0.0.0/0' }, managed()))!, /would cover every address/)
  assert.match(judge(node('h2', { podCIDR: '10.9.0.0/24' }, managed()))!, /outside the network/)
  assert.match(judge(node('h3', { podCIDR: '10.244.3.0/24' }, managed({ [`${P}public-ip`]: '1.2.3.4; reboot' })))!, /PublicIP "1.2.3.4; reboot" is not a plain IPv4 address/)
  assert.match(judge(node('h4', { podCIDR: '10.244.4.0/24' }, { [`${P}kube-subnet-manager`]: 'true' }))!, /PublicIP null is not an IPv4 address/)
  assert.match(judge(node('h5', {}, managed()))!, /does not name a subnet/)
  assert.match(judge(node('h6', { podCIDR: '10.244.1.0/24' }, managed()))!, /is our own/)
  assert.match(judge(node('h7', { podCIDR: '10.244.7.0/24 via 1.1.1.1' }, managed()))!, /does not name a subnet/)
  assert.match(judge(node('h8', { podCIDR: '10.244.8.0/25' }, managed()))!, /has prefix \/25/)
  assert.match(judge(node('h9', { podCIDR: '10.244.9.0/24' }, managed({ [`${P}public-ip`]: '127.0.0.1' })))!, /loopback/)
  assert.match(judge(node('ha', { podCIDR: '10.244.10.0/24' }, managed({ [`${P}backend-data`]: '{not json' })))!, /BackendData "\{not json" is not an object/)
})

test('403 names the RBAC rule that is missing', () => {
  assert.equal(rbacRule('PATCH', '/api/v1/nodes/n1/status'), 'apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"]')
  assert.equal(rbacRule('GET', '/api/v1/nodes?limit=500'), 'apiGroups: [""], resources: ["nodes"], verbs: ["list"]')
  assert.equal(rbacRule('GET', '/api/v1/nodes?watch=true&resourceVersion=5'), 'apiGroups: [""], resources: ["nodes"], verbs: ["watch"]')
  assert.equal(rbacRule('GET', '/api/v1/namespaces/kube-flannel/pods/p1'), 'apiGroups: [""], resources: ["pods"], verbs: ["get"]')
})
