// flanneld's health port on a 2-node lab (issue 12 points 2-3, issue 13 point 7, issue 9 point 5):
// /readyz built from the parts' typed events, /metrics judged by promtool, drift repairs counted
// and named, a hung part (SIGSTOP) killed and restarted within seconds.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { probe, readyz, sample } from '../../scripts/lib/lab/probe.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist') })
const HEALTH = ['--healthz-port=8081', '--healthz-ip=127.0.0.1', '--part-liveness-timeout=3']
const leaseOf = (i: number) => lab.subnetOf(lab.nodes[i]).replace(/\.1\//, '.0/')
const metrics = async (i = 0) => (await probe(lab.nodes[i].ns, '/metrics')).body
const hasRoute = async (i: number, dst: string) => (await lab.routesOf(lab.nodes[i])).some((r) => r.dst === dst && r.gateway)

before(async () => {
  await lab.cluster(2, { args: () => HEALTH, pods: () => 0 })
  for (const n of lab.nodes) {
    let last = ''
    await lab
      .until(
        `${n.name} ready`,
        async () => {
          const r = await readyz(n.ns)
          last = r.reason
          return r.ready
        },
        30000,
      )
      .catch((e) => Promise.reject(new Error(`${(e as Error).message}: ${last}\n${lab.logOf(n)}`)))
  }
})
after(() => lab.down())

test("/readyz?verbose: 200 with every part ready and its pid; the plain body stays flanneld's", async () => {
  const r = await readyz(lab.nodes[0].ns)
  assert.equal(r.status, 200)
  assert.deepEqual(Object.keys(r.parts).sort(), ['weft-masq', 'weft-routes', 'weft-subnet'])
  for (const [name, p] of Object.entries(r.parts)) {
    assert.equal(p.state, 'ready', `${name}: ${p.detail}`)
    assert.ok(p.pid && p.pid > 1, name)
  }
  assert.match(r.parts['weft-routes'].detail, /synced: 1\/1 in place \(1 peers\)/)
  assert.deepEqual(await probe(lab.nodes[0].ns, '/readyz'), { status: 200, body: 'flanneld is ready' })
  assert.equal((await probe(lab.nodes[0].ns, '/readyz', { accept: 'application/json' })).body.trim().startsWith('{'), true)
})

test('/metrics passes promtool check metrics and says what the node knows', async () => {
  const text = await metrics()
  const p = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  assert.equal(p.status, 0, `promtool: ${p.stdout}${p.stderr}\n${text}`)
  assert.equal(p.stdout + p.stderr, '', 'no lint warnings either')
  assert.equal(sample(text, 'weft_ready'), 1)
  assert.equal(sample(text, 'weft_peers'), 1)
  assert.equal(sample(text, 'weft_routes_desired'), 1)
  assert.equal(sample(text, 'weft_routes_present'), 1)
  assert.ok(sample(text, 'weft_routes_added_total')! >= 1)
  assert.ok(sample(text, 'weft_sync_duration_seconds_count')! >= 1)
  const expiry = sample(text, 'weft_lease_expiry_timestamp_seconds')!
  assert.ok(expiry > Date.now() / 1000 + 3600, `lease expiry ${expiry}`)
  assert.equal(sample(text, 'weft_build_info', 'version="v0.1.0-weft"'), 1)
  assert.equal(sample(text, 'weft_part_restarts_total', 'part="weft-routes"'), 0)
})

test('a peer route deleted by hand is repaired at the resync, named in the log, counted in /metrics', async () => {
  const dst = leaseOf(1)
  const before = sample(await metrics(), 'weft_routes_repaired_total', 'kind="route"')!
  await run(['ip', '-n', lab.nodes[0].ns, 'route', 'del', dst])
  await lab.until('the route back', () => hasRoute(0, dst), 30000)
  await lab.until('the repair counted', async () => sample(await metrics(), 'weft_routes_repaired_total', 'kind="route"')! > before, 5000)
  assert.match(
    lab.logOf(lab.nodes[0]),
    new RegExp(`repaired route at resync: route replace ${dst.replace(/\./g, '\\.')} via ${lab.nodes[1].ip.replace(/\./g, '\\.')} dev eth0 \\(the kernel lacked it`),
  )
})

test('a flushed masquerade chain is re-applied and counted', async () => {
  const before = sample(await metrics(), 'weft_masq_rule_repairs_total')!
  await run(['ip', 'netns', 'exec', lab.nodes[0].ns, 'iptables', '-t', 'nat', '-F', 'FLANNEL-POSTRTG'])
  await lab.until('the repair counted', async () => sample(await metrics(), 'weft_masq_rule_repairs_total')! > before, 15000)
  const rules = await run(['ip', 'netns', 'exec', lab.nodes[0].ns, 'iptables', '-t', 'nat', '-S', 'FLANNEL-POSTRTG'])
  assert.match(rules.stdout, /MASQUERADE/)
})

test('weft-routes stopped (SIGSTOP) is killed and restarted within seconds; health says so; a route deleted meanwhile comes back', async () => {
  const n = lab.nodes[0]
  const pid = (await readyz(n.ns)).parts['weft-routes'].pid!
  const dst = leaseOf(1)
  const t0 = Date.now()
  process.kill(pid, 'SIGSTOP')
  await run(['ip', '-n', n.ns, 'route', 'del', dst])
  await lab.until(
    'a new weft-routes',
    async () => {
      const p = (await readyz(n.ns)).parts['weft-routes']
      return !!p?.pid && p.pid !== pid
    },
    20000,
  )
  // Timed by flanneld's own log line (the probes themselves take a second or more on a busy machine).
  const said = lab
    .logOf(n)
    .split('\n')
    .filter((l) => /weft-routes|hung/.test(l))
    .slice(-8)
    .join('\n')
  const started = new RegExp(`^(\\S+) flanneld started weft-routes \\(pid (?!${pid}\\))`, 'm').exec(said)
  assert.ok(started, said)
  const restartedIn = (Date.parse(started[1]) - t0) / 1000
  assert.ok(restartedIn < 3 + 1 + 3, `restarted after ${restartedIn} s:\n${said}`)
  // The probes are too slow on a busy machine to be sure to catch the 503 window: flanneld's log
  // line for the readiness change is the record of it.
  assert.match(lab.logOf(n), /flannel is not ready: weft-routes is hung: no heartbeat for [\d.]+ s; killed, to be restarted/)
  assert.throws(() => process.kill(pid, 0), 'the stopped process is gone')
  await lab.until('the route back', () => hasRoute(0, dst), 20000)
  await lab.until('ready again', async () => (await readyz(n.ns)).ready, 20000)
  const r = await readyz(n.ns)
  assert.equal(r.parts['weft-routes'].restarts, 1)
  const text = await metrics()
  assert.equal(sample(text, 'weft_part_hangs_total', 'part="weft-routes"'), 1)
  assert.equal(sample(text, 'weft_part_restarts_total', 'part="weft-routes"'), 1)
  assert.match(lab.logOf(n), /weft-routes \(pid \d+\) is hung: no heartbeat for [\d.]+ s; killing it/)
  process.stdout.write(`# SIGSTOP to new weft-routes: ${restartedIn.toFixed(1)} s\n`)
})

test('a part killed (SIGKILL): restarted, counted in /metrics by part, /readyz 200 again once it reports ready', async () => {
  const n = lab.nodes[1]
  const before = sample(await metrics(1), 'weft_part_restarts_total', 'part="weft-masq"')!
  const pid = (await readyz(n.ns)).parts['weft-masq'].pid!
  process.kill(pid, 'SIGKILL')
  await lab.until(
    'a new weft-masq',
    async () => {
      const p = (await readyz(n.ns)).parts['weft-masq']
      return !!p?.pid && p.pid !== pid
    },
    20000,
  )
  assert.match(lab.logOf(n), /flannel is not ready: weft-masq is restarting: died \(SIGKILL\)/)
  await lab.until('ready again', async () => (await readyz(n.ns)).ready, 20000)
  assert.equal(sample(await metrics(1), 'weft_part_restarts_total', 'part="weft-masq"'), before + 1)
})

test('subnet.env removed: /readyz is 503 naming it for as long as it is missing; weft-subnet writes it back, 200', async () => {
  const n = lab.nodes[1]
  const text = readFileSync(n.subnetFile, 'utf8')
  rmSync(n.subnetFile)
  let seen = ''
  // weft-subnet rewrites a deleted subnet.env at once (issue 13 item 8), which may close the 503
  // window before a poll lands in it: either is fine, a 200 while the file is missing is not.
  await lab.until(
    '503 naming subnet.env, or the file written back',
    async () => {
      const missing = !existsSync(n.subnetFile)
      const r = await readyz(n.ns)
      if (r.status === 503) seen = r.reason
      else if (missing && !existsSync(n.subnetFile)) assert.fail(`/readyz ${r.status} while ${n.subnetFile} is missing`)
      return /subnet\.env is not written/.test(seen) || (existsSync(n.subnetFile) && readFileSync(n.subnetFile, 'utf8') === text)
    },
    10000,
  )
  if (seen) assert.match(seen, new RegExp(`${n.subnetFile.replace(/\./g, '\\.')} is not written`))
  if (!existsSync(n.subnetFile)) writeFileSync(n.subnetFile, text)
  await lab.until('ready again', async () => (await readyz(n.ns)).ready, 10000)
  assert.equal(readFileSync(n.subnetFile, 'utf8'), text)
})
