// Repairs are fast (issue 13 item 8): a peer route deleted by hand is back well before the
// periodic resync (30 s here), from the kernel's route monitor; a deleted subnet.env is written
// again at once by the subnet writer.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, dist, must, waitFor } from '../helpers/scope.ts'
import { repairNode, PEER_ROUTE } from './fast-repair-setup.ts'

const scope = new Scope()
after(() => scope.close())

test('a deleted peer route is back within 1 s (median of 5), long before the 30 s resync', { timeout: 120_000 }, async () => {
  const n = await repairNode(scope)
  const p = scope.spawn([dist('weft-routes'), `--etcd-endpoints=${n.etcd.endpoint}`, '--iface=v0', `--subnet-file=${n.subnetFile}`, '--resync=30'], { netns: n.ns })
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('the peer route', () => n.routes().includes(PEER_ROUTE), 20000)
  await waitFor('the route monitor', () => /watching the kernel's route changes/.test(log), 20000)
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    must(['ip', '-n', n.ns, 'route', 'del', '10.244.2.0/24'])
    const t0 = Date.now()
    await waitFor('the route back', () => n.routes().includes(PEER_ROUTE), 20000, 10).catch((e) => assert.fail(`${e.message}\n${log}`))
    times.push(Date.now() - t0)
  }
  times.sort((a, b) => a - b)
  assert.ok(times[4] < 10_000, `a repair took ${times[4]} ms: the resync did it, not the monitor`)
  assert.ok(times[2] <= 1000, `median repair ${times[2]} ms`)
  assert.match(log, /route 10\.244\.2\.0\/24 was deleted from the kernel: syncing now/)
  console.log(`# repair times (ms): ${times.join(' ')}`)
})

test('a deleted subnet.env is written again at once, byte for byte', { timeout: 60_000 }, async () => {
  const n = await repairNode(scope)
  const file = join(scope.tmp(), 'run', 'subnet.env')
  const w = scope.spawn([process.execPath, dist('weft-subnet'), `--etcd-endpoints=${n.etcd.endpoint}`, '--public-ip=192.168.50.1', '--iface=v0', `--subnet-file=${file}`], {
    netns: n.ns,
  })
  let out = ''
  let log = ''
  w.stdout!.on('data', (d) => (out += d))
  w.stderr!.on('data', (d) => (log += d))
  await waitFor('subnet-written', () => out.includes('"subnet-written"'), 20000)
  const text = readFileSync(file, 'utf8')
  for (let i = 0; i < 3; i++) {
    rmSync(file)
    const t0 = Date.now()
    await waitFor('subnet.env back', () => existsSync(file) && readFileSync(file, 'utf8') === text, 5000, 10)
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`)
  }
  assert.match(log, /subnet\.env was deleted: written again/)
})
