// A 3-member etcd cluster under three flanneld nodes (issue 13, "Figures to reach"): one member
// stopped loses nothing; a second one stopped (quorum lost) for 60 s loses no route on any node,
// no daemon exits, and the loss of the registry shows in the log and in /metrics; once the members
// are back the leases are renewed, each node keeping its subnet.
// Layout: a "switch" namespace whose bridge carries the three members' addresses (.1 .2 .3, each
// member on its own address, ports 2379/2380) and the nodes' eth0 (.11 .12 .13), host-gw.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { Scope, dist, must, sh, waitFor, inNs } from '../helpers/scope.ts'
import { holdsFor } from '../helpers/wait.ts'
import { etcdctl } from '../helpers/etcd.ts'
import { probe, sample } from '../../scripts/lib/lab/probe.ts'

const scope = new Scope()
after(() => scope.close())

const NET = '192.168.94'
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'
// TTL 100 s with the 1 min margin: a renewal every 40 s, so one falls inside the outage and the
// test sees renewals resume after it (flannel's TTL is a fixed day; the writer takes this env).
const TTL = '100'

interface Member {
  name: string
  url: string
  proc?: ChildProcess
  argv: string[]
}

test('3-member etcd: one member down loses nothing; quorum lost for 60 s loses no route; leases renewed after, same subnets', { timeout: 420_000 }, async () => {
  const sw = scope.ns('q')
  must(['ip', '-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
  for (const i of [1, 2, 3]) must(['ip', '-n', sw, 'addr', 'add', `${NET}.${i}/24`, 'dev', 'br0'])
  must(['ip', '-n', sw, 'link', 'set', 'br0', 'up'])

  const token = `weft-q-${process.pid}`
  const cluster = [1, 2, 3].map((i) => `m${i}=http://${NET}.${i}:2380`).join(',')
  const members: Member[] = [1, 2, 3].map((i) => {
    const url = `http://${NET}.${i}:2379`
    const dir = scope.tmp(`etcd-m${i}`)
    const argv = ['etcd', '--name', `m${i}`, '--data-dir', join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url]
    argv.push('--listen-peer-urls', `http://${NET}.${i}:2380`, '--initial-advertise-peer-urls', `http://${NET}.${i}:2380`)
    argv.push('--initial-cluster', cluster, '--initial-cluster-token', token, '--initial-cluster-state', 'new', '--log-level', 'error')
    return { name: `m${i}`, url, argv }
  })
  const endpoints = members.map((m) => m.url).join(',')
  const health = (m: Member) => inNs(sw, ['etcdctl', '--endpoints', m.url, '--command-timeout=2s', 'endpoint', 'health']).code === 0
  const start = (m: Member) => (m.proc = scope.spawn(m.argv, { netns: sw }))
  const stop = async (m: Member) => {
    const p = m.proc!
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r))
      p.kill('SIGTERM')
      await gone
    }
  }
  for (const m of members) start(m)
  await waitFor('the three members healthy', () => members.every(health), 30000, 200)
  assert.equal(etcdctl(endpoints, ['put', '/coreos.com/network/config', CONFIG], { netns: sw }).code, 0)

  // three nodes, each running flanneld against all three endpoints
  const nodes = [1, 2, 3].map((i) => {
    const ns = scope.ns(`q${i}`)
    must(['ip', '-n', sw, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    must(['ip', '-n', sw, 'link', 'set', `v${i}`, 'master', 'br0', 'up'])
    must(['ip', '-n', ns, 'addr', 'add', `${NET}.${10 + i}/24`, 'dev', 'eth0'])
    must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
    const subnetFile = join(scope.tmp(`q${i}`), 'run', 'subnet.env')
    const p = scope.spawn(
      [
        process.execPath,
        dist('flanneld'),
        '--iface=eth0',
        `--etcd-endpoints=${endpoints}`,
        `--subnet-file=${subnetFile}`,
        '--healthz-port=8081',
        '--healthz-ip=127.0.0.1',
        '--subnet-lease-renew-margin=1',
      ],
      { netns: ns, env: { ...process.env, FLANNELD_SUBNET_LEASE_TTL: TTL } },
    )
    const node = { i, ns, ip: `${NET}.${10 + i}`, subnetFile, p, log: '', exited: undefined as number | null | undefined }
    p.stderr!.on('data', (d) => (node.log += d))
    p.once('exit', (c) => (node.exited = c))
    return node
  })
  const subnetOf = (n: (typeof nodes)[0]) => /FLANNEL_SUBNET=(\S+)/.exec(readFileSync(n.subnetFile, 'utf8'))?.[1]?.replace(/\.1\//, '.0/')
  const routes = (ns: string) => {
    const j = JSON.parse(must(['ip', '-n', ns, '-j', 'route', 'show', 'table', 'main']).stdout) as { dst: string; gateway?: string }[]
    return new Set(j.filter((r) => r.gateway).map((r) => `${r.dst} via ${r.gateway}`))
  }
  const logs = () => nodes.map((n) => `--- node ${n.i} ---\n${n.log.split('\n').slice(-25).join('\n')}`).join('\n')
  const fail = (e: unknown) => assert.fail(`${(e as Error).message}\n${logs()}`)

  await waitFor('subnet.env on every node', () => nodes.every((n) => subnetOf(n)), 60000, 200).catch(fail)
  const subnets = new Map(nodes.map((n) => [n.i, subnetOf(n)!]))
  const want = new Map(nodes.map((n) => [n.ns, nodes.filter((o) => o !== n).map((o) => `${subnets.get(o.i)} via ${o.ip}`)]))
  const missing = () => {
    const out: string[] = []
    for (const n of nodes) {
      const have = routes(n.ns)
      for (const r of want.get(n.ns)!) if (!have.has(r)) out.push(`node ${n.i} lacks ${r}`)
    }
    return out
  }
  const allRoutes = () => {
    const m = missing()
    if (m.length) throw new Error(m.join('; '))
    return true
  }
  const running = () => {
    const gone = nodes.filter((n) => n.exited !== undefined).map((n) => `node ${n.i} flanneld exited ${n.exited}`)
    if (gone.length) throw new Error(gone.join('; '))
    return true
  }
  await waitFor('every peer route on every node', allRoutes, 60000, 200).catch(fail)
  const ready = async (n: (typeof nodes)[0]) => (await probe(n.ns, '/readyz')).status === 200
  for (const n of nodes) await waitFor(`node ${n.i} ready`, () => ready(n), 30000, 200).catch(fail)
  const keyOf = (i: number) => `/coreos.com/network/subnets/${subnets.get(i)!.replace('/', '-')}`
  const keysBefore = nodes.map((n) => etcdctl(endpoints, ['get', keyOf(n.i), '--print-value-only'], { netns: sw }).stdout.trim())
  assert.ok(
    keysBefore.every((v, k) => v.includes(`"PublicIP":"${nodes[k].ip}"`)),
    keysBefore.join('\n'),
  )

  // 1. one member down (the first endpoint, where every client starts): the cluster keeps quorum.
  await stop(members[0])
  await holdsFor('every route on every node, one member down', () => allRoutes() && running(), 15000, 200).catch(fail)
  assert.equal(etcdctl(members[1].url, ['put', '/weft-test/one-down', 'x'], { netns: sw }).code, 0, 'two members of three still take writes')

  // 2. quorum lost: the condition of the test is that the routes hold for 60 s without a registry
  // (holdsFor's window is the outage, not a sleep).
  const errorsBefore = await Promise.all(nodes.map(async (n) => sample((await probe(n.ns, '/metrics')).body, 'weft_registry_errors_total') ?? 0))
  const logAt = nodes.map((n) => n.log.length)
  await stop(members[1])
  const lostAt = Date.now()
  await holdsFor('every route on every node, every flanneld running, quorum lost', () => allRoutes() && running(), 60_000, 250).catch(fail)
  console.log(`# quorum lost for ${Math.round((Date.now() - lostAt) / 1000)} s: 0 routes lost on ${nodes.length} nodes`)
  // the loss is visible: every node's log says etcd is out of reach, and /metrics counts it
  for (const [k, n] of nodes.entries()) {
    const since = n.log.slice(logAt[k])
    assert.match(since, /etcd unreachable|Error renewing lease|lost the watch on our lease|waiting for etcd/, `node ${n.i} said nothing of the lost registry:\n${since}`)
    const errs = sample((await probe(n.ns, '/metrics')).body, 'weft_registry_errors_total') ?? 0
    assert.ok(errs > errorsBefore[k], `node ${n.i}: weft_registry_errors_total ${errorsBefore[k]} -> ${errs}`)
    if (k === 0)
      console.log(
        `# node 1 said: ${since.split('\n').find((l) => /etcd unreachable|Error renewing|lost the watch|waiting for etcd/.test(l))}; registry errors ${errorsBefore[k]} -> ${errs}`,
      )
  }

  // 3. restore: the members rejoin, the leases are renewed, every node keeps its subnet.
  const restoredAt = nodes.map((n) => n.log.length)
  start(members[0])
  start(members[1])
  await waitFor('the three members healthy again', () => members.every(health), 60000, 200)
  for (const [k, n] of nodes.entries()) await waitFor(`node ${n.i} to renew its lease`, () => /Renewed lease/.test(n.log.slice(restoredAt[k])), 120_000, 250).catch(fail)
  assert.deepEqual(
    nodes.map((n) => subnetOf(n)),
    nodes.map((n) => subnets.get(n.i)),
    'a node changed subnet',
  )
  const keysAfter = nodes.map((n) => etcdctl(endpoints, ['get', keyOf(n.i), '--print-value-only'], { netns: sw }).stdout.trim())
  assert.deepEqual(keysAfter, keysBefore, 'the lease values changed')
  const all = sh(['ip', 'netns', 'exec', sw, 'etcdctl', '--endpoints', endpoints, 'get', '--prefix', '--keys-only', '/coreos.com/network/subnets/'])
    .stdout.split('\n')
    .filter(Boolean)
  assert.equal(all.length, 3, `one lease per node, no second registration: ${all.join(' ')}`)
  // nor took the outage for a changed config (the writer re-reads it every 5 s; a failed read is no news)
  for (const n of nodes) assert.doesNotMatch(n.log, /registered .* again|Lease has been revoked|the network config changed/, `node ${n.i}`)
  allRoutes()
  running()
  for (const n of nodes) assert.equal(sample((await probe(n.ns, '/metrics')).body, 'weft_part_restarts_total', 'part="weft-subnet"'), 0, `node ${n.i} restarted its writer`)
  for (const n of nodes) n.p.kill('SIGTERM')
})
