// flanneld's side of its parts' channel: event parsing (events.ts), the Prometheus registry
// (metrics.ts, judged by promtool in test/e2e/flanneld-health.test.ts) and the readiness and
// metrics built from events (node-health.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseEvent } from '../../scripts/lib/daemon/events.ts'
import { Counter, Gauge, Histogram, Registry } from '../../scripts/lib/daemon/metrics.ts'
import { NodeHealth } from '../../scripts/lib/daemon/node-health.ts'

test('events: every kind parses to its typed value', () => {
  const lines = [
    { event: 'heartbeat' },
    { event: 'ready', detail: 'rules in place' },
    { event: 'not-ready', reason: 'x' },
    { event: 'subnet', planned: false, file: '/run/flannel/subnet.env', network: '10.244.0.0/16', subnet: '10.244.1.0/24', mtu: 1450 },
    { event: 'lease', expiry: 1767225600 },
    { event: 'synced', full: true, seconds: 0.01, peers: 2, desired: 2, present: 2, added: 1, removed: 0, replaced: 0, ok: true },
    { event: 'repaired', kind: 'route', what: 'route replace 10.244.2.0/24 via 192.168.77.12 dev eth0', why: 'missing' },
    { event: 'error', kind: 'registry', message: 'list: ECONNREFUSED' },
    { event: 'watch-restart', reason: 'closed' },
  ]
  for (const l of lines) assert.deepEqual(parseEvent(JSON.stringify(l)), l)
})

test('events: malformed lines are named, never thrown', () => {
  const bad: [string, RegExp][] = [
    ['flannel is ready', /not JSON/],
    ['[1]', /not a JSON object/],
    ['{"event":"boom"}', /unknown event "boom"/],
    ['{"event":"ready"}', /ready: field detail must be a string/],
    ['{"event":"lease","expiry":"soon"}', /field expiry must be a number/],
    ['{"event":"repaired","kind":"bridge","what":"x","why":"y"}', /unknown kind "bridge"/],
    ['{"event":"subnet","planned":true,"file":"f","mtu":1500,"subnet":7}', /field subnet must be a string/],
    ['{"event":"__proto__"}', /unknown event/],
  ]
  for (const [line, why] of bad) {
    const r = parseEvent(line)
    assert.ok('invalid' in r, line)
    assert.match((r as { invalid: string }).invalid, why, line)
  }
})

test('metrics: text exposition with HELP, TYPE, sorted escaped labels, cumulative buckets', () => {
  const r = new Registry()
  const c = r.add(new Counter('weft_x_total', 'an x'))
  c.inc({ part: 'weft-routes', b: 'a"b\\c\nd' })
  c.inc({ b: 'a"b\\c\nd', part: 'weft-routes' }, 2)
  r.add(new Gauge('weft_y', 'a y')).set(1.5)
  const h = r.add(new Histogram('weft_z_seconds', 'a z', [0.1, 1]))
  h.observe(0.05)
  h.observe(0.5)
  h.observe(3)
  assert.equal(
    r.render(),
    [
      '# HELP weft_x_total an x',
      '# TYPE weft_x_total counter',
      'weft_x_total{b="a\\"b\\\\c\\nd",part="weft-routes"} 3',
      '# HELP weft_y a y',
      '# TYPE weft_y gauge',
      'weft_y 1.5',
      '# HELP weft_z_seconds a z',
      '# TYPE weft_z_seconds histogram',
      'weft_z_seconds_bucket{le="0.1"} 1',
      'weft_z_seconds_bucket{le="1"} 2',
      'weft_z_seconds_bucket{le="+Inf"} 3',
      'weft_z_seconds_sum 3.55',
      'weft_z_seconds_count 3',
      '',
    ].join('\n'),
  )
  assert.throws(() => new Counter('weft_x', 'no suffix'), /_total/)
  assert.throws(() => c.inc({}, -1), /only goes up/)
  assert.throws(() => r.add(new Gauge('weft_y', 'again')), /twice/)
  assert.throws(() => new Gauge('weft-bad', 'x'), /not a valid/)
})

function withFile<T>(fn: (file: string) => T): T {
  const d = mkdtempSync(join(tmpdir(), 'weft-nh-'))
  try {
    return fn(join(d, 'subnet.env'))
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
}

test('readiness: subnet.env on disk and every expected part ready; a hung or dead part takes it away', () => {
  withFile((file) => {
    const h = new NodeHealth(file, 'v0-test')
    for (const p of ['weft-subnet', 'weft-masq', 'weft-routes']) h.expect(p)
    assert.match(h.readiness().reason, /subnet\.env is not written/)
    writeFileSync(file, 'FLANNEL_NETWORK=10.244.0.0/16\n')
    h.lifecycle('weft-subnet', 'started', 'pid 10', 10)
    h.event('weft-subnet', { event: 'subnet', planned: false, file, network: '10.244.0.0/16', subnet: '10.244.1.0/24', mtu: 1500 })
    assert.match(h.readiness().reason, /^weft-masq is not-started/)
    h.event('weft-masq', { event: 'ready', detail: 'rules in place' })
    assert.match(h.readiness().reason, /^weft-routes is not-started/)
    h.lifecycle('weft-routes', 'started', 'pid 12', 12)
    assert.match(h.readiness().reason, /^weft-routes is starting/)
    h.event('weft-routes', { event: 'synced', full: false, seconds: 0.01, peers: 1, desired: 1, present: 1, added: 1, removed: 0, replaced: 0, ok: true })
    assert.equal(h.readiness().ready, false, 'a partial sync is not the first full sync')
    h.event('weft-routes', { event: 'synced', full: true, seconds: 0.02, peers: 2, desired: 2, present: 2, added: 1, removed: 0, replaced: 0, ok: true })
    const r = h.readiness()
    assert.equal(r.ready, true, r.reason)
    assert.equal(r.parts['weft-routes'].pid, 12)
    h.lifecycle('weft-routes', 'hung', 'no heartbeat for 5.0 s')
    assert.match(h.readiness().reason, /^weft-routes is hung: no heartbeat for 5\.0 s; killed/)
    h.lifecycle('weft-routes', 'died', 'was hung and is killed')
    assert.equal(h.readiness().parts['weft-routes'].restarts, 1)
    h.lifecycle('weft-routes', 'started', 'pid 13', 13)
    h.event('weft-routes', { event: 'synced', full: true, seconds: 0.02, peers: 2, desired: 2, present: 2, added: 0, removed: 0, replaced: 0, ok: true })
    assert.equal(h.readiness().ready, true)
    rmSync(file)
    assert.match(h.readiness().reason, /subnet\.env is not written/)
    const text = h.metricsText()
    assert.match(text, /^weft_ready 0$/m)
    assert.match(text, /^weft_part_restarts_total\{part="weft-routes"\} 1$/m)
    assert.match(text, /^weft_part_hangs_total\{part="weft-routes"\} 1$/m)
    assert.match(text, /^weft_part_restarts_total\{part="weft-masq"\} 0$/m)
    assert.match(text, /^weft_routes_added_total 2$/m)
    assert.match(text, /^weft_sync_duration_seconds_count 3$/m)
    assert.match(text, /^weft_build_info\{nodejs="v[\d.]+",version="v0-test"\} 1$/m)
  })
})

test('metrics from events: lease expiry, repairs by kind, masquerade repairs, registry errors, watch restarts', () => {
  withFile((file) => {
    const h = new NodeHealth(file, 'v0')
    h.event('weft-subnet', { event: 'lease', expiry: 1767225600 })
    h.event('weft-routes', { event: 'repaired', kind: 'fdb', what: 'fdb replace ...', why: 'x' })
    h.event('weft-routes', { event: 'repaired', kind: 'route', what: 'route replace ...', why: 'x' })
    h.event('weft-masq', { event: 'repaired', kind: 'rule', what: 'FLANNEL-POSTRTG', why: 'missing' })
    h.event('weft-routes', { event: 'error', kind: 'registry', message: 'x' })
    h.event('weft-routes', { event: 'error', kind: 'apply', message: 'x' })
    h.event('weft-routes', { event: 'watch-restart', reason: 'x' })
    const t = h.metricsText()
    assert.match(t, /^weft_lease_expiry_timestamp_seconds 1767225600$/m)
    assert.match(t, /^weft_routes_repaired_total\{kind="fdb"\} 1$/m)
    assert.match(t, /^weft_routes_repaired_total\{kind="neigh"\} 0$/m)
    assert.match(t, /^weft_masq_rule_repairs_total 1$/m)
    assert.match(t, /^weft_registry_errors_total 1$/m)
    assert.match(t, /^weft_apply_errors_total\{part="weft-routes"\} 1$/m)
    assert.match(t, /^weft_watch_restarts_total 1$/m)
  })
})

test('log lines: time, program, level word; under journald no time, a syslog priority instead; one line per event', async () => {
  const { formatLine, underJournald } = await import('../../scripts/lib/core/log.ts')
  const now = new Date('2026-12-02T14:00:00.000Z')
  assert.equal(formatLine('info', 'Wrote subnet file', { journal: false, now, program: 'weft-subnet' }), '2026-12-02T14:00:00.000Z weft-subnet Wrote subnet file\n')
  assert.equal(formatLine('warning', 'etcd unreachable', { journal: false, now, program: 'weft-routes' }), '2026-12-02T14:00:00.000Z weft-routes warning: etcd unreachable\n')
  assert.equal(formatLine('warning', 'etcd unreachable', { journal: true, program: 'weft-routes' }), '<4>weft-routes warning: etcd unreachable\n')
  assert.equal(formatLine('error', 'bad\nthing', { journal: true, program: 'flanneld' }), '<3>flanneld error: bad | thing\n')
  assert.equal(formatLine('debug', 'sync', { journal: true, program: 'flanneld' }), '<7>flanneld sync\n')
  const st = () => ({ dev: 27, ino: 4242 }) as unknown as import('node:fs').Stats
  assert.equal(underJournald({ JOURNAL_STREAM: '27:4242' }, st), true)
  assert.equal(underJournald({ JOURNAL_STREAM: '27:4243' }, st), false, 'stderr redirected elsewhere since')
  assert.equal(underJournald({}, st), false)
  assert.equal(underJournald({ JOURNAL_STREAM: 'junk' }, st), false)
})

test('forwarding off: the route syncer names it and a full sync that carries it leaves the node not ready', async () => {
  const { forwardingProblem } = await import('../../scripts/lib/routes/forwarding.ts')
  const sys: Record<string, string> = { 'net/ipv4/ip_forward': '0\n', 'net/ipv6/conf/all/forwarding': '1\n' }
  const read = (p: string) => sys[p]
  assert.equal(
    forwardingProblem([4, 6], read, () => false),
    '',
    'no pod yet: the bridge plugin turns it on with the first',
  )
  assert.equal(
    forwardingProblem([4, 6], read, () => true),
    "forwarding is off (net.ipv4.ip_forward=0): traffic to and from other nodes' pods is dropped; sysctl -w net.ipv4.ip_forward=1",
  )
  sys['net/ipv4/ip_forward'] = '1\n'
  assert.equal(
    forwardingProblem([4, 6], read, () => true),
    '',
  )
  assert.equal(
    forwardingProblem(
      [4],
      () => {
        throw new Error('EACCES')
      },
      () => true,
    ),
    '',
  )
  withFile((file) => {
    writeFileSync(file, 'x')
    const h = new NodeHealth(file, 'v0')
    h.expect('weft-routes')
    const synced = { event: 'synced', full: true, seconds: 0, peers: 1, desired: 1, present: 1, added: 0, removed: 0, replaced: 0, ok: true } as const
    h.event('weft-routes', { ...synced, problem: 'forwarding is off (net.ipv4.ip_forward=0)' })
    assert.match(h.readiness().reason, /^weft-routes is not-ready: forwarding is off/)
    h.event('weft-routes', synced)
    assert.equal(h.readiness().ready, true)
  })
  assert.ok(
    !(
      'invalid' in
      parseEvent(JSON.stringify({ event: 'synced', full: true, seconds: 0, peers: 0, desired: 0, present: 0, added: 0, removed: 0, replaced: 0, ok: true, problem: 'x' }))
    ),
  )
  assert.ok(
    'invalid' in parseEvent(JSON.stringify({ event: 'synced', full: true, seconds: 0, peers: 0, desired: 0, present: 0, added: 0, removed: 0, replaced: 0, ok: true, problem: 1 })),
  )
})
