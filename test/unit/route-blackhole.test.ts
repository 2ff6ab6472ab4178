import { test } from 'node:test'
import assert from 'node:assert/strict'
import { blackholeLines, BLACKHOLE_METRIC } from '../../scripts/lib/routes/blackhole.ts'
import { parseKernelRoutes, planSummary } from '../../scripts/lib/routes/hostgw/plan.ts'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'

const own = [parseCidr('10.244.1.0/24'), parseCidr('fd44:0:0:12::/64')]

test('blackhole: each own subnet without our blackhole route gets one line, at metric 10000', () => {
  assert.equal(BLACKHOLE_METRIC, 10000)
  assert.deepEqual(blackholeLines([], own), ['route replace blackhole 10.244.1.0/24 metric 10000', 'route replace blackhole fd44:0:0:12::/64 metric 10000'])
})

test('blackhole: present at our metric -> nothing; at another metric, or a unicast route there -> still added', () => {
  const k4 = parseKernelRoutes(
    [
      { type: 'blackhole', dst: '10.244.1.0/24', metric: 10000, flags: [] },
      { dst: '10.244.1.0/24', dev: 'cni0', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.1', flags: [] },
    ],
    4,
  )
  const k6 = parseKernelRoutes([{ type: 'blackhole', dst: 'fd44:0:0:12::/64', metric: 1024, flags: [] }], 6)
  assert.deepEqual(blackholeLines([...k4, ...k6], own), ['route replace blackhole fd44:0:0:12::/64 metric 10000'])
})

test('blackhole: the batch summary says how many were added', () => {
  assert.equal(planSummary({ batch: 'x', added: 2, replaced: 0, removed: 1, unchanged: 0, blackholes: 1 }), '2 added, 0 replaced, 1 removed, 1 blackhole route added')
  assert.equal(planSummary({ batch: 'x', added: 0, replaced: 0, removed: 0, unchanged: 0 }), '0 added, 0 replaced, 0 removed')
})
