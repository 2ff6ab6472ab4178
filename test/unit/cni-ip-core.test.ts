// ip-core.ts (no ip-num, for the CNI plugin's start-up) must give exactly what cidr.ts (ip-num) gives.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as core from '../../scripts/lib/net/ip-core.ts'
import * as cidr from '../../scripts/lib/net/cidr.ts'

function outcome(f: () => unknown): unknown {
  try {
    return f()
  } catch (e) {
    return `throws ${(e as Error).message}`
  }
}

// A deterministic PRNG, so a failure can be reproduced.
let seed = 12345
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed % n
}

function randomV6Text(): string {
  const g = Array.from({ length: 8 }, () => (rnd(3) === 0 ? 0 : rnd(4) === 0 ? rnd(16) : rnd(65536)))
  let parts = g.map((x) => {
    const h = x.toString(16)
    return rnd(5) === 0 ? h.toUpperCase() : rnd(6) === 0 ? h.padStart(4, '0') : h
  })
  if (rnd(4) === 0) {
    const v4 = [rnd(256), rnd(256), rnd(256), rnd(256)].join('.')
    parts = [...parts.slice(0, 6), v4]
  }
  let s = parts.join(':')
  if (rnd(2) === 0) {
    // compress some zero run (or a non-zero one, which must then be rejected or differ)
    const i = rnd(parts.length)
    const len = 1 + rnd(Math.min(3, parts.length - i))
    s = `${parts.slice(0, i).join(':')}::${parts.slice(i + len).join(':')}`
  }
  return s
}

const garbage = [
  '',
  ':',
  ':::',
  '1::2::3',
  '::g',
  '12345::',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::',
  '::1:2:3:4:5:6:7',
  ':1::',
  '1::1.2.3',
  '::1.2.3.4',
  '::ffff:1.2.3.04',
  '1.2.3.4',
  '01.2.3.4',
  '256.1.1.1',
  '1.2.3.4.5',
  ' 1.2.3.4',
  'fe80::1%eth0',
  '::ffff:1.2.3.4:1',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5:6:7:1.2.3.4',
]

test('parseIp: same value, text and errors as cidr.ts on 5000 random and hand-picked inputs', () => {
  const inputs = [...garbage]
  for (let i = 0; i < 4000; i++) inputs.push(randomV6Text())
  for (let i = 0; i < 1000; i++) inputs.push([rnd(300), rnd(300), rnd(256), rnd(256)].join('.'))
  for (const s of inputs)
    assert.deepEqual(
      outcome(() => core.parseIp(s)),
      outcome(() => cidr.parseIp(s)),
      s,
    )
})

test('formatIp: RFC 5952 text identical to cidr.ts for random values with zero runs', () => {
  for (let i = 0; i < 5000; i++) {
    let v = 0n
    for (let k = 0; k < 8; k++) v = (v << 16n) | BigInt(rnd(3) ? 0 : rnd(65536))
    assert.equal(core.formatIp(6, v), cidr.formatIp(6, v))
    const v4 = BigInt(rnd(0x7fffffff)) * 2n + BigInt(rnd(2))
    assert.equal(core.formatIp(4, v4), cidr.formatIp(4, v4))
  }
})

test('parseCidr: same result as cidr.ts', () => {
  for (const s of ['10.244.1.1/24', 'fc00::1/64', 'fc00:0:0:1::5/64', '10.0.0.0/33', '10.0.0.0/08', '::/0', '1.2.3.4', 'x/8', '::ffff:10.0.0.1/120']) {
    assert.deepEqual(
      outcome(() => core.parseCidr(s)),
      outcome(() => cidr.parseCidr(s)),
      s,
    )
  }
})
