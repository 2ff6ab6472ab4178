// The lab with "Backend":{"Type":"vxlan"}: weft-subnet makes flannel.1 and publishes its MAC in the
// lease; weft-routes programs each peer's neighbour, fdb entry and onlink route on it; pods on
// different nodes talk through the overlay with their own addresses.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { Lab, OUTSIDE_IP, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { run, runJson } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'
import { untilPrinted } from '../helpers/wait.ts'

const lab = new Lab({ dist: join(root, 'dist'), backend: 'vxlan' })
const P = '/coreos.com/network/subnets'
const net = (n: LabNode) => lab.subnetOf(n).replace(/\.1\//, '.0/')
const key = (n: LabNode) => `${P}/${net(n).replace('/', '-')}`
const inNs = <T>(n: LabNode, argv: string[]) => runJson<T>(['ip', 'netns', 'exec', n.ns, ...argv])
const macOf = async (n: LabNode) => (await inNs<{ address: string }[]>(n, ['ip', '-j', 'link', 'show', 'flannel.1']))[0].address

/** node's entries for peer: [neigh lladdr, fdb dst, route gateway+onlink] ('' when missing). */
async function entries(n: LabNode, peer: string): Promise<string[]> {
  const ip = peer.split('/')[0]
  const neigh = await inNs<{ dst: string; lladdr: string }[]>(n, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1'])
  const fdb = await inNs<{ mac: string; dst?: string }[]>(n, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])
  const routes = await inNs<{ dst: string; gateway?: string; flags?: string[] }[]>(n, ['ip', '-j', 'route', 'show', 'dev', 'flannel.1'])
  const mac = neigh.find((e) => e.dst === ip)?.lladdr ?? ''
  const r = routes.find((e) => e.dst === peer)
  return [mac, fdb.find((e) => mac && e.mac === mac)?.dst ?? '', r ? `${r.gateway} ${(r.flags ?? []).join(',')}` : '']
}

before(async () => {
  // The third node, which gets no pod, also keeps a blackhole route for its subnet.
  const third = (n: LabNode) => n === lab.nodes[2]
  await lab.cluster(3, { args: (n) => (third(n) ? ['--ip-blackhole-route'] : []), pods: (n) => (third(n) ? 0 : 1) })
})
after(async () => {
  await lab.down()
})

test('vxlan: flannel.1 is VNI 1, port 8472, nolearning, MTU 1450 over a 1500 underlay, <lease IP>/32, up, accept_ra 0', async () => {
  for (const n of lab.nodes) {
    const [l] = await inNs<any[]>(n, ['ip', '-d', '-j', 'addr', 'show', 'flannel.1'])
    const [eth] = await inNs<any[]>(n, ['ip', '-j', 'link', 'show', 'eth0'])
    assert.equal(eth.mtu, 1500)
    assert.equal(l.mtu, 1450)
    assert.equal(l.linkinfo.info_kind, 'vxlan')
    assert.deepEqual(
      [l.linkinfo.info_data.id, l.linkinfo.info_data.port, l.linkinfo.info_data.learning, l.linkinfo.info_data.local, l.linkinfo.info_data.link],
      [1, 8472, false, n.ip, 'eth0'],
    )
    assert.ok(l.flags.includes('UP'))
    assert.deepEqual(
      l.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`),
      [net(n).replace('/24', '/32')],
    )
    assert.match(readFileSync(n.subnetFile, 'utf8'), /^FLANNEL_MTU=1450$/m)
    // flannel's accept_ra=0 on the overlay device (a sysctl of the node's own namespace)
    assert.equal((await run(['ip', 'netns', 'exec', n.ns, 'cat', '/proc/sys/net/ipv6/conf/flannel.1/accept_ra'])).stdout.trim(), '0')
  }
})

test("vxlan: each lease's BackendData is {VNI:1, VtepMAC: the device's MAC}", async () => {
  for (const n of lab.nodes) {
    const v = JSON.parse((await lab.etcdctl(['get', '--print-value-only', key(n)])).stdout)
    assert.equal(v.BackendType, 'vxlan')
    assert.deepEqual(v.BackendData, { VNI: 1, VtepMAC: await macOf(n) })
  }
})

test('vxlan: every node holds neigh, fdb and onlink route for each peer', async () => {
  for (const n of lab.nodes) {
    for (const m of lab.nodes.filter((x) => x !== n)) {
      const want = [await macOf(m), m.ip, `${net(m).split('/')[0]} onlink`]
      await lab.until(`${n.name}'s entries for ${m.name}`, async () => JSON.stringify(await entries(n, net(m))) === JSON.stringify(want), 10000)
    }
  }
})

test('vxlan: flanneld --ip-blackhole-route -> blackhole <own subnet> metric 10000 on that node only; its pod addresses are not routed out', async () => {
  const blackholes = async (n: LabNode) =>
    (JSON.parse((await run(['ip', '-n', n.ns, '-j', 'route', 'show', 'table', 'main', 'type', 'blackhole'])).stdout) as { dst: string; metric?: number }[]).map(
      (r) => `${r.dst} metric ${r.metric ?? 0}`,
    )
  const [a, , c] = lab.nodes
  await lab.until("the third node's blackhole route", async () => (await blackholes(c)).length > 0, 15000)
  assert.deepEqual(await blackholes(c), [`${net(c)} metric 10000`])
  assert.deepEqual(await blackholes(a), [])
  const get = await run(['ip', '-n', c.ns, 'route', 'get', net(c).replace(/\.0\//, '.9/').split('/')[0]], { nothrow: true })
  assert.notEqual(get.code, 0, `routed: ${get.stdout}`)
  assert.match(get.stderr, /Invalid argument/, 'the kernel answers a blackhole lookup with EINVAL (no route at all would be "unreachable")')
})

test('vxlan: a pod reaches a pod on another node with its own address, the outside host masqueraded', async () => {
  const [a, b] = lab.pods
  assert.notEqual(a.node, b.node)
  const srv = lab.startWhoAmI(b.ns, b.ip)
  const out = lab.startWhoAmI(lab.out, OUTSIDE_IP)
  try {
    await Promise.all([untilPrinted(srv, 'up'), untilPrinted(out, 'up')])
    assert.equal(await lab.sourceSeen(a.ns, b.ip), a.ip)
    assert.equal(await lab.sourceSeen(a.ns, OUTSIDE_IP), a.node.ip)
  } finally {
    srv.kill()
    out.kill()
  }
  // The packets did cross the underlay as VXLAN: eth0 of a's node saw UDP to 8472 (counter moved).
  const [s] = await inNs<any[]>(a.node, ['ip', '-s', '-j', 'link', 'show', 'flannel.1'])
  assert.ok(s.stats64.tx.packets > 0)
})

test('vxlan: bad vxlan leases (bad MAC, VNI mismatch, BackendData not an object) are ignored with a warning', async () => {
  const bad: [string, unknown][] = [
    ['10.244.201.0-24', { VNI: 1, VtepMAC: 'not-a-mac' }],
    ['10.244.202.0-24', { VNI: 9, VtepMAC: '0a:00:00:00:02:02' }],
    ['10.244.203.0-24', 'x'],
  ]
  for (const [k, d] of bad) await lab.etcdctl(['put', `${P}/${k}`, JSON.stringify({ PublicIP: '192.168.77.99', PublicIPv6: null, BackendType: 'vxlan', BackendData: d })])
  const n = lab.nodes[0]
  await lab.until('three warnings', () => bad.every(([k]) => lab.logOf(n).includes(`ignoring lease ${P}/${k}`)), 10000)
  const log = lab.logOf(n)
  assert.match(log, /10\.244\.201\.0-24: BackendData VtepMAC "not-a-mac" is not a MAC address/)
  assert.match(log, /10\.244\.202\.0-24: BackendData VNI 9 does not match ours \(1\)/)
  assert.match(log, /10\.244\.203\.0-24: .*BackendData "x" is not an object/)
  for (const s of ['10.244.201.0/24', '10.244.202.0/24', '10.244.203.0/24']) assert.deepEqual(await entries(n, s), ['', '', ''])
  const fdb = await inNs<{ dst?: string }[]>(n, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])
  assert.ok(!fdb.some((e) => e.dst === '192.168.77.99'))
  for (const [k] of bad) await lab.etcdctl(['del', `${P}/${k}`])
})

/** Restart flanneld on n and wait until its writer has written subnet.env again; returns the new log. */
async function restart(n: LabNode): Promise<string> {
  await lab.stopFlanneld(n)
  const from = lab.logOf(n).length
  lab.startFlanneld(n)
  await lab.until(`${n.name} ready again`, () => lab.logOf(n).slice(from).includes('Wrote subnet file'), 20000)
  return lab.logOf(n).slice(from)
}

test('vxlan: flannel.1 deleted by hand is made again by the running writer with the same MAC and address; the peers come back on it', async () => {
  const [a, b] = lab.nodes
  const mac = await macOf(a)
  const addr = async () => (await inNs<any[]>(a, ['ip', '-4', '-j', 'addr', 'show', 'dev', 'flannel.1']))[0]?.addr_info?.map((x: any) => `${x.local}/${x.prefixlen}`)
  const before = await addr()
  await run(['ip', '-n', a.ns, 'link', 'del', 'flannel.1'])
  await lab.until('flannel.1 back on the first node', async () => (await run(['ip', '-n', a.ns, 'link', 'show', 'flannel.1'], { nothrow: true })).code === 0, 10000)
  await lab.until('its address back', async () => JSON.stringify(await addr()) === JSON.stringify(before), 5000)
  assert.equal(await macOf(a), mac, "same MAC: the lease and the peers' fdb entries stay right")
  assert.match(lab.logOf(a), /flannel\.1 has been deleted: creating it again \(MAC /)
  assert.equal((await run(['ip', 'netns', 'exec', a.ns, 'cat', '/proc/sys/net/ipv6/conf/flannel.1/accept_ra'])).stdout.trim(), '0')
  const want = [await macOf(b), b.ip, `${net(b).split('/')[0]} onlink`]
  await lab.until("the peer's entries back on the new flannel.1", async () => JSON.stringify(await entries(a, net(b))) === JSON.stringify(want), 20000)
})

test('vxlan: a restart reuses the compatible flannel.1 untouched (same MAC, same VtepMAC in the lease)', async () => {
  const n = lab.nodes[0]
  const mac = await macOf(n)
  const log = await restart(n)
  assert.match(log, new RegExp(`flannel\\.1 exists and is compatible: reusing it \\(MAC ${mac}\\)`))
  assert.equal(await macOf(n), mac)
  assert.equal(JSON.parse((await lab.etcdctl(['get', '--print-value-only', key(n)])).stdout).BackendData.VtepMAC, mac)
})

test('vxlan: an incompatible flannel.1 (port 4789) is deleted and recreated; peers follow the new MAC', async () => {
  const n = lab.nodes[1]
  await lab.stopFlanneld(n)
  await run(['ip', '-n', n.ns, 'link', 'del', 'flannel.1'])
  await run([
    'ip',
    '-n',
    n.ns,
    'link',
    'add',
    'flannel.1',
    'address',
    '0a:00:00:00:04:04',
    'type',
    'vxlan',
    'id',
    '1',
    'local',
    n.ip,
    'dev',
    'eth0',
    'dstport',
    '4789',
    'nolearning',
  ])
  const log = await restart(n)
  assert.match(log, /flannel\.1 exists but port 4789 instead of 8472: deleting and recreating it/)
  const [l] = await inNs<any[]>(n, ['ip', '-d', '-j', 'link', 'show', 'flannel.1'])
  assert.equal(l.linkinfo.info_data.port, 8472)
  const mac = l.address
  assert.notEqual(mac, '0a:00:00:00:04:04')
  const other = lab.nodes[0]
  await lab.until(
    `${other.name} follows ${n.name}'s new MAC`,
    async () => JSON.stringify(await entries(other, net(n))) === JSON.stringify([mac, n.ip, `${net(n).split('/')[0]} onlink`]),
    10000,
  )
  const fdb = await inNs<{ mac: string }[]>(other, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])
  assert.ok(!fdb.some((e) => e.mac === '0a:00:00:00:04:04'))
})

test('vxlan: weft-subnet --vxlan-device --dry-run prints the plan: no link add for a compatible device, the address batch', async () => {
  const n = lab.nodes[0]
  const r = await run([
    'ip',
    'netns',
    'exec',
    n.ns,
    join(root, 'dist', 'weft-subnet'),
    `--etcd-endpoints=${lab.endpoint}`,
    `--public-ip=${n.ip}`,
    '--iface=eth0',
    '--vxlan-device',
    '--dry-run',
    `--subnet-file=${n.subnetFile}`,
  ])
  assert.doesNotMatch(r.stdout, /ip link add/)
  assert.match(r.stdout, /ip -batch - <<'EOF'\nlink set flannel.1 up\nEOF\n/)
  assert.match(r.stdout, /FLANNEL_MTU=1450/)
})

test("vxlan: a peer's lease deleted -> its neigh, fdb and route are gone from the other nodes", async () => {
  const gone = lab.nodes[2]
  await lab.stopFlanneld(gone)
  const before = await entries(lab.nodes[0], net(gone))
  assert.notDeepEqual(before, ['', '', ''])
  await lab.etcdctl(['del', key(gone)])
  for (const n of lab.nodes.slice(0, 2)) {
    await lab.until(`${n.name} drops ${gone.name}'s entries`, async () => JSON.stringify(await entries(n, net(gone))) === '["","",""]', 10000)
    const fdb = await inNs<{ dst?: string }[]>(n, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1'])
    assert.ok(!fdb.some((e) => e.dst === gone.ip), `${n.name} fdb still has ${gone.ip}`)
  }
})

test('vxlan: weft-routes --dry-run on a node in line prints no batch', async () => {
  const n = lab.nodes[0]
  const r = await run([
    'ip',
    'netns',
    'exec',
    n.ns,
    join(root, 'dist', 'weft-routes'),
    '--iface',
    'eth0',
    `--etcd-endpoints=${lab.endpoint}`,
    `--subnet-file=${n.subnetFile}`,
    '--dry-run',
  ])
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /would apply 0 peers added, 0 changed, 0 removed/)
})

test('vxlan without DirectRouting never touches routes on the external interface (flannel does not either)', async () => {
  const n = lab.nodes[0]
  const route = ['10.244.250.0/24', 'via', lab.nodes[1].ip, 'dev', 'eth0']
  await run(['ip', '-n', n.ns, 'route', 'add', ...route])
  try {
    const r = await run([
      'ip',
      'netns',
      'exec',
      n.ns,
      join(root, 'dist', 'weft-routes'),
      '--iface',
      'eth0',
      `--etcd-endpoints=${lab.endpoint}`,
      `--subnet-file=${n.subnetFile}`,
      '--once',
    ])
    assert.doesNotMatch(r.stderr, /routes: .*removed/)
    assert.ok(
      (await lab.routesOf(n)).some((x) => x.dst === '10.244.250.0/24' && x.dev === 'eth0'),
      'the hand-made route is still there',
    )
  } finally {
    await run(['ip', '-n', n.ns, 'route', 'del', ...route], { nothrow: true })
  }
})

test('vxlan: weft-doctor checks flannel.1 against the published VtepMAC and names a mismatch', async () => {
  const { runDoctor } = await import('../../scripts/lib/lab/doctor.ts')
  const n = lab.nodes[0]
  const check = async () => {
    const r = await runDoctor(lab, n, ['--json'], { health: false })
    return { code: r.code, checks: new Map((JSON.parse(r.stdout).checks as { check: string; state: string; detail: string }[]).map((c) => [c.check, c])) }
  }
  const mac = await macOf(n)
  const before = await check()
  assert.equal(before.checks.get('vxlan device')?.state, 'ok', JSON.stringify([...before.checks.values()]))
  assert.match(before.checks.get('vxlan device')!.detail, new RegExp(`flannel\\.1: VNI 1, MAC ${mac} \\(as published\\), MTU 1450`))
  assert.equal(before.checks.get('mtu')?.state, 'ok')
  await run(['ip', '-n', n.ns, 'link', 'set', 'dev', 'flannel.1', 'address', '02:00:00:00:00:01'])
  try {
    const d = await check()
    assert.equal(d.code, 1)
    assert.equal(d.checks.get('vxlan device')?.state, 'fail')
    assert.match(d.checks.get('vxlan device')!.detail, new RegExp(`flannel\\.1 has MAC 02:00:00:00:00:01 but we publish VtepMAC ${mac} \\(our lease\\)`))
  } finally {
    await run(['ip', '-n', n.ns, 'link', 'set', 'dev', 'flannel.1', 'address', mac])
  }
  assert.equal((await check()).checks.get('vxlan device')?.state, 'ok')
})
