import { test } from 'node:test'
import { parseBackend, type VxlanBackend } from '../../scripts/lib/formats/backend.ts'
import assert from 'node:assert/strict'
import { splitDirect } from '../../scripts/lib/routes/vxlan/direct.ts'
import { parseCidr, parseIp } from '../../scripts/lib/net/cidr.ts'
import { managedRoutes, parseKernelRoutes } from '../../scripts/lib/routes/hostgw/plan.ts'

const vx = (raw: Record<string, unknown>) => parseBackend({ Type: 'vxlan', ...raw }) as VxlanBackend

test('DirectRouting: absent -> false; true/false in any key case; anything else is a clear error', () => {
  assert.equal(vx({ Type: 'vxlan' }).directRouting, false)
  assert.equal(vx({ Type: 'vxlan', DirectRouting: true }).directRouting, true)
  assert.equal(vx({ Type: 'vxlan', directrouting: false }).directRouting, false)
  assert.throws(() => vx({ DirectRouting: 'yes' }).directRouting, /Backend\.DirectRouting must be true or false, got "yes"/)
  assert.throws(() => vx({ DirectRouting: 1 }).directRouting, /got 1/)
})

test('DirectRouting: peers on the interface networks become routes via their PublicIP, the others stay overlay peers', () => {
  const peer = (s: string, ip: string) => ({ subnet: parseCidr(s), publicIp: parseIp(ip), mac: '0a:00:00:00:00:01' })
  const near = peer('10.244.2.0/24', '192.168.50.12')
  const far = peer('10.244.3.0/24', '172.31.9.9')
  const { direct, overlay } = splitDirect([near, far], [parseCidr('192.168.50.1/24')])
  assert.deepEqual(
    direct.map((d) => `${d.dst.text} via ${d.gateway.text}`),
    ['10.244.2.0/24 via 192.168.50.12'],
  )
  assert.deepEqual(overlay, [far])
  assert.equal(splitDirect([near], []).direct.length, 0, 'no interface network: all overlay')
})

test('DirectRouting: only gateway routes through --iface are managed (the overlay onlink routes on flannel.1 are not)', () => {
  const k = parseKernelRoutes(
    [
      { dst: '10.244.2.0/24', gateway: '192.168.50.12', dev: 'eth0', flags: [] },
      { dst: '10.244.3.0/24', gateway: '10.244.3.0', dev: 'flannel.1', flags: ['onlink'] },
    ],
    4,
  )
  const scope = { networks: [parseCidr('10.244.0.0/16')], own: [parseCidr('10.244.1.0/24')] }
  assert.equal(managedRoutes(k, scope).length, 2)
  assert.deepEqual(
    managedRoutes(k, { ...scope, dev: 'eth0' }).map((r) => r.dst.text),
    ['10.244.2.0/24'],
  )
})
