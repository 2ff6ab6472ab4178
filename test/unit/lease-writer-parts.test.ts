import { test } from 'node:test'
import { parseBackend } from '../../scripts/lib/formats/backend.ts'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync, statSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { backendMtu } from '../../scripts/lib/subnet/mtu.ts'
import { writeFileAtomic } from '../../scripts/lib/formats/subnet-file.ts'
import { previousSubnet } from '../../scripts/lib/formats/subnet-env.ts'
import { renewDelay } from '../../scripts/lib/subnet/renew.ts'

test('backendMtu per backend (reference/flanneld.md section 1)', () => {
  const b = (type: string, raw: Record<string, unknown> = {}) => backendMtu(parseBackend({ Type: type, ...raw }), 1500)
  assert.equal(b('host-gw'), 1500)
  assert.equal(b('alloc'), 1500)
  assert.equal(b('vxlan'), 1450)
  assert.equal(b('vxlan', { MTU: 9000 }), 8950)
  assert.equal(b('vxlan', { mtu: 1400 }), 1350)
  assert.equal(b('ipip'), 1480)
  assert.equal(b('wireguard'), 1420)
  assert.equal(b('udp'), 1472)
  assert.equal(b('ipsec'), 1423)
  assert.equal(b('ipsec', { UDPEncap: true }), 1415)
  assert.throws(() => b('carrier-pigeon'), /unknown backend type "carrier-pigeon"/)
  assert.throws(() => b('vxlan', { MTU: '9000' }), /Backend.MTU must be an integer/)
})

test('writeFileAtomic: creates the directory 0755, the file 0644, no temp file left', () => {
  const d = mkdtempSync(join(tmpdir(), 'weft-unit-'))
  try {
    const path = join(d, 'run/flannel/subnet.env')
    const old = process.umask(0o077)
    try {
      writeFileAtomic(path, 'A=1\n')
      writeFileAtomic(path, 'A=2\n')
    } finally {
      process.umask(old)
    }
    assert.equal(readFileSync(path, 'utf8'), 'A=2\n')
    assert.equal(statSync(path).mode & 0o777, 0o644)
    assert.deepEqual(readdirSync(join(d, 'run/flannel')), ['subnet.env'])
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

test('previousSubnet: FLANNEL_SUBNET as a network; missing, broken or a list is none', () => {
  const d = mkdtempSync(join(tmpdir(), 'weft-unit-'))
  try {
    const f = join(d, 'subnet.env')
    assert.equal(previousSubnet(f), undefined)
    writeFileSync(f, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n')
    assert.equal(previousSubnet(f)?.text, '10.244.7.0/24')
    writeFileSync(f, 'FLANNEL_SUBNET=10.244.7.1/24,10.244.8.1/24\n')
    assert.equal(previousSubnet(f), undefined)
    writeFileSync(f, 'FLANNEL_SUBNET=$(reboot)\n')
    assert.equal(previousSubnet(f), undefined)
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

test('renewDelay: margin before expiry, never negative', () => {
  assert.equal(renewDelay(100_000, 60_000, 10_000), 30_000)
  assert.equal(renewDelay(100_000, 60_000, 90_000), 0)
  // flannel's numbers: a day's lease, 60 min margin -> renew after 23 h.
  assert.equal(renewDelay(86_400_000, 3_600_000, 0), 82_800_000)
})
