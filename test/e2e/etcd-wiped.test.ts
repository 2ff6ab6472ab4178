// etcd wiped and restarted empty (issue 13 item 9): the subnet writer keeps running, waits for
// the network config, and registers the same subnet again within 10 s of the config's return.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, waitFor, dist } from '../helpers/scope.ts'
import { etcdctl, startEtcd } from '../helpers/etcd.ts'

const scope = new Scope()
after(() => scope.close())

const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'

test('etcd wiped: no exit, the same subnet registered again once the config is back', { timeout: 120_000 }, async () => {
  const etcd = await startEtcd(scope)
  const endpoint = etcd.endpoint
  // history, so the wiped cluster's revision is clearly lower
  for (let i = 0; i < 20; i++) etcdctl(endpoint, ['put', `/pad/${i}`, 'x'])
  assert.equal(etcdctl(endpoint, ['put', '/coreos.com/network/config', CONFIG]).code, 0)
  const file = join(scope.tmp(), 'subnet.env')
  const w = scope.spawn([process.execPath, dist('weft-subnet'), `--etcd-endpoints=${endpoint}`, '--public-ip=192.168.80.1', '--mtu=1500', `--subnet-file=${file}`])
  let out = ''
  let log = ''
  let exited: number | null | undefined
  w.stdout!.on('data', (d) => (out += d))
  w.stderr!.on('data', (d) => (log += d))
  w.once('exit', (c) => (exited = c))
  await waitFor('subnet-written', () => out.includes('"subnet-written"'), 20000)
  const subnet = String(JSON.parse(out.split('\n').find((l) => l.includes('subnet-written'))!).subnet)
  const key = `/coreos.com/network/subnets/${subnet.replace('/', '-')}`

  // wipe: stop, remove the data, start empty (a new cluster, revision back to 1)
  await etcd.stop()
  rmSync(etcd.dataDir, { recursive: true, force: true })
  await etcd.start()
  await waitFor('the writer to notice the wipe', () => /etcd lost our lease .* with the rest of its data/.test(log), 60000).catch(() => assert.fail(log))
  await waitFor('the writer to wait for the config', () => /flannel config not found in etcd store/.test(log), 20000).catch(() => assert.fail(log))
  assert.equal(exited, undefined, `the writer exited: ${log}`)
  assert.equal(etcdctl(endpoint, ['put', '/coreos.com/network/config', CONFIG]).code, 0)
  const t0 = Date.now()
  await waitFor('the same subnet registered again', () => etcdctl(endpoint, ['get', key, '--print-value-only']).stdout.includes('192.168.80.1'), 10000).catch(() =>
    assert.fail(log),
  )
  console.log(`# re-registered ${Date.now() - t0} ms after the config came back`)
  assert.equal(exited, undefined)
  assert.match(readFileSync(file, 'utf8'), new RegExp(`FLANNEL_SUBNET=${subnet.replace('.0/', '.1/').replace(/\./g, '\\.')}`))
  await waitFor('the writer to say so', () => /registered 10\.244\.\d+\.0\/24 again/.test(log), 10000).catch(() => assert.fail(log))
})

test('etcd wiped under the route syncer: peer routes kept while it is empty, the watch follows the new cluster', { timeout: 120_000 }, async () => {
  const { repairNode, PEER_ROUTE } = await import('./fast-repair-setup.ts')
  const n = await repairNode(scope)
  const p = scope.spawn([dist('weft-routes'), `--etcd-endpoints=${n.etcd.endpoint}`, '--iface=v0', `--subnet-file=${n.subnetFile}`, '--resync=30'], { netns: n.ns })
  let log = ''
  let exited: number | null | undefined
  p.stderr!.on('data', (d) => (log += d))
  p.once('exit', (c) => (exited = c))
  await waitFor('the peer route', () => n.routes().includes(PEER_ROUTE), 20000)
  for (let i = 0; i < 20; i++) etcdctl(n.etcd.endpoint, ['put', `/pad/${i}`, 'x'], { netns: n.ns })
  await n.etcd.stop()
  rmSync(n.etcd.dataDir, { recursive: true, force: true })
  await n.etcd.start()
  await waitFor('the syncer to see the new cluster', () => /etcd's revision went back from \d+ to \d+/.test(log), 30000).catch(() => assert.fail(log))
  assert.ok(n.routes().includes(PEER_ROUTE), 'the peer route was removed while etcd was empty')
  // the nodes come back: config, then a lease; the watch (not the 30 s resync) brings its route
  const put = (k: string, v: string) => assert.equal(etcdctl(n.etcd.endpoint, ['put', k, v], { netns: n.ns }).code, 0)
  put('/coreos.com/network/config', CONFIG)
  put('/coreos.com/network/subnets/10.244.3.0-24', '{"PublicIP":"192.168.50.3","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}')
  await waitFor('the new peer route, from the watch', () => n.routes().includes('10.244.3.0/24 via 192.168.50.3'), 10000).catch(() => assert.fail(log))
  assert.equal(exited, undefined)
})

// The narrow race of issue 13: the wiped cluster's revision passes ours before the writer looks
// again (the writer is frozen meanwhile, so the order is certain). Its cluster and member IDs are
// the same as before (same flags), so only history tells a wipe from a revoke: at the revision
// we last saw our key, the new cluster has no such key.
test('etcd wiped and its revision past ours before the writer reconnects: still a wipe, the same subnet registered again', { timeout: 120_000 }, async () => {
  const etcd = await startEtcd(scope)
  assert.equal(etcdctl(etcd.endpoint, ['put', '/coreos.com/network/config', CONFIG]).code, 0)
  const file = join(scope.tmp(), 'subnet.env')
  const w = scope.spawn([process.execPath, dist('weft-subnet'), `--etcd-endpoints=${etcd.endpoint}`, '--public-ip=192.168.81.1', '--mtu=1500', `--subnet-file=${file}`])
  let out = ''
  let log = ''
  let exited: number | null | undefined
  w.stdout!.on('data', (d) => (out += d))
  w.stderr!.on('data', (d) => (log += d))
  w.once('exit', (c) => (exited = c))
  await waitFor('subnet-written', () => out.includes('"subnet-written"'), 20000)
  const subnet = String(JSON.parse(out.split('\n').find((l) => l.includes('subnet-written'))!).subnet)
  const key = `/coreos.com/network/subnets/${subnet.replace('/', '-')}`
  const ourRev = Number(JSON.parse(etcdctl(etcd.endpoint, ['get', key, '-w', 'json']).stdout).header.revision)

  w.kill('SIGSTOP')
  await etcd.stop()
  rmSync(etcd.dataDir, { recursive: true, force: true })
  await etcd.start()
  assert.equal(etcdctl(etcd.endpoint, ['put', '/coreos.com/network/config', CONFIG]).code, 0)
  for (let i = 0; i < ourRev + 10; i++) etcdctl(etcd.endpoint, ['put', `/pad/${i}`, 'x'])
  const newRev = Number(JSON.parse(etcdctl(etcd.endpoint, ['get', '/pad/0', '-w', 'json']).stdout).header.revision)
  assert.ok(newRev > ourRev, `the new cluster's revision ${newRev} passed ours ${ourRev}`)
  w.kill('SIGCONT')

  await waitFor('the writer to tell the wipe', () => /etcd lost our lease .* with the rest of its data \(its history no longer holds our key/.test(log), 60000).catch(() =>
    assert.fail(log),
  )
  await waitFor('the same subnet registered again', () => etcdctl(etcd.endpoint, ['get', key, '--print-value-only']).stdout.includes('192.168.81.1'), 10000).catch(() =>
    assert.fail(log),
  )
  assert.equal(exited, undefined, log)
  assert.doesNotMatch(log, /Lease has been revoked/)
})

test('etcd wiped and its revision past ours before the route syncer reconnects: peer routes kept, the new cluster followed', { timeout: 120_000 }, async () => {
  const { repairNode, PEER_ROUTE } = await import('./fast-repair-setup.ts')
  const n = await repairNode(scope)
  const p = scope.spawn([dist('weft-routes'), `--etcd-endpoints=${n.etcd.endpoint}`, '--iface=v0', `--subnet-file=${n.subnetFile}`, '--resync=30'], { netns: n.ns })
  let log = ''
  let exited: number | null | undefined
  p.stderr!.on('data', (d) => (log += d))
  p.once('exit', (c) => (exited = c))
  await waitFor('the peer route', () => n.routes().includes(PEER_ROUTE), 20000)
  const rev = () => Number(JSON.parse(etcdctl(n.etcd.endpoint, ['get', '/coreos.com/network/config', '-w', 'json'], { netns: n.ns }).stdout).header.revision)
  const ourRev = rev()
  p.kill('SIGSTOP')
  await n.etcd.stop()
  rmSync(n.etcd.dataDir, { recursive: true, force: true })
  await n.etcd.start()
  assert.equal(etcdctl(n.etcd.endpoint, ['put', '/coreos.com/network/config', CONFIG], { netns: n.ns }).code, 0)
  for (let i = 0; i < ourRev + 10; i++) etcdctl(n.etcd.endpoint, ['put', `/pad/${i}`, 'x'], { netns: n.ns })
  assert.ok(rev() > ourRev)
  p.kill('SIGCONT')
  await waitFor('the syncer to see the new cluster', () => /etcd's history at revision \d+ no longer holds the leases we listed there/.test(log), 30000).catch(() =>
    assert.fail(log),
  )
  assert.ok(n.routes().includes(PEER_ROUTE), `the peer route was removed while etcd was empty:\n${log}`)
  const put = (k: string, v: string) => assert.equal(etcdctl(n.etcd.endpoint, ['put', k, v], { netns: n.ns }).code, 0)
  put('/coreos.com/network/subnets/10.244.3.0-24', '{"PublicIP":"192.168.50.3","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}')
  await waitFor('the new peer route, from the watch', () => n.routes().includes('10.244.3.0/24 via 192.168.50.3'), 10000).catch(() => assert.fail(log))
  assert.equal(exited, undefined)
})
