// renderFlags is how flanneld passes options to its parts: whatever it renders, the part's own
// parseFlags reads back as the same values (a round trip), for every flag type and awkward value.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseFlags, renderFlags, type FlagSpec } from '../../scripts/lib/core/flags.ts'
import { FLANNELD_SPEC } from '../../scripts/lib/daemon/flanneld-flags.ts'

const SPEC = {
  name: { type: 'string', help: '' },
  on: { type: 'bool', default: true, help: '' },
  off: { type: 'bool', help: '' },
  n: { type: 'int', default: 5, help: '' },
  items: { type: 'list', help: '' },
} satisfies FlagSpec

test('every type round-trips, with values that hold spaces, =, commas or a leading dash', () => {
  const cases = [
    { name: 'a b=c,d', on: false, off: true, n: -3, items: ['x', 'y=1', '-z', 'p,q'] },
    { name: '-looks-like-a-flag', on: true, off: false, n: 0, items: [] },
    { name: '', on: false, off: false, n: 2147483647, items: [''] },
  ]
  for (const v of cases) {
    const back = parseFlags(renderFlags(SPEC, v), SPEC, { positional: false })
    const { _, ...rest } = back
    assert.deepEqual(rest, v)
    assert.deepEqual(_, [])
  }
})

test('left-out values take the spec default; undefined is not rendered', () => {
  assert.deepEqual(renderFlags(SPEC, { name: undefined, n: 7 }), ['--n=7'])
  const back = parseFlags(renderFlags(SPEC, { n: 7 }), SPEC)
  assert.equal(back.on, true)
  assert.equal(back.n, 7)
})

test('a name outside the spec is refused (a caller that bypasses the types)', () => {
  assert.throws(() => renderFlags(SPEC, { nope: 'x' } as never), /--nope is not in the spec/)
})

test("flanneld's own spec: a full set of values round-trips", () => {
  const v = {
    'etcd-endpoints': 'https://10.0.0.1:2379,unix://localhost:1',
    iface: ['eth0', '10.0.0.0/8'],
    'ip-masq': true,
    'subnet-lease-renew-margin': 30,
    'public-ip': '192.0.2.1',
  }
  const { _, ...back } = parseFlags(renderFlags(FLANNELD_SPEC, v), FLANNELD_SPEC, { positional: false })
  for (const [k, want] of Object.entries(v)) assert.deepEqual(back[k as keyof typeof back], want, k)
})
