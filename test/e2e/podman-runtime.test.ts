// Podman (Debian's 4.3.1, network_backend "cni", runc) as the container runtime on two lab nodes:
// weft-install puts the plugin and kube-flannel's conflist into each node's root, podman runs
// busybox containers through them. What a real runtime does that hand-made CNI calls do not:
// libcni's result cache, DEL on stop, ADD again on start and restart, portmap's hostPort from
// podman's -p, conmon's cleanup. The slow part (the cluster, two podman set-ups, one container per
// node) runs once, in `before`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Lab, OUTSIDE_IP, type LabNode } from '../../scripts/lib/lab/lab.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { conflistText } from '../../scripts/lib/install/files.ts'
import { Scope, root } from '../helpers/scope.ts'
import { waitFor, untilPrinted } from '../helpers/wait.ts'
import { busyboxRootfs, cniCommands, leftovers, podman, runFlags, setUpPodmanNode, tearDownPodman, tearDownPodmanSync, type PodmanNode } from '../helpers/podman.ts'

const dist = join(root, 'dist')
const lab = new Lab({ dist, id: `pm${process.pid.toString(36)}` })
const scope = new Scope()
const nodes: PodmanNode[] = []
let rootfs = ''
const HOST_PORT = 8080

interface Ctr {
  name: string
  id: string
  on: PodmanNode
  /** its address, read again (addressOf) after each ADD */
  ip: string
}
const ctrs: Record<string, Ctr> = {}

/** A container serving /cgi-bin/ip (the client's address) on port 80; `-p` maps a host port. */
async function runServer(on: PodmanNode, name: string, extra: string[] = []): Promise<Ctr> {
  const r = await podman(on, ['run', '-d', '--name', name, ...runFlags(on), ...extra, '--rootfs', rootfs, 'httpd', '-f', '-p', '80', '-h', '/www'])
  const c: Ctr = { name, id: r.stdout.trim(), on, ip: '' }
  c.ip = await addressOf(c)
  return (ctrs[name] = c)
}

/** The container's IPv4 address, as podman reports it and as eth0 inside has it (both must agree). */
async function addressOf(c: Ctr): Promise<string> {
  const fromPodman = (await podman(c.on, ['inspect', '--format', '{{.NetworkSettings.Networks.cbr0.IPAddress}}', c.name])).stdout.trim()
  const inside = (await podman(c.on, ['exec', c.name, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout
  assert.match(inside, new RegExp(`inet ${fromPodman.replace(/\./g, '\\.')}/24 `), `${c.name}: podman says ${fromPodman}, eth0 has ${inside}`)
  return fromPodman
}

/** From inside container c: GET http://ip:port/cgi-bin/ip with busybox nc, the body (the source address the server saw). */
async function sourceSeenFrom(c: Ctr, ip: string, port = 80): Promise<string> {
  const r = await podman(c.on, ['exec', c.name, 'sh', '-c', `printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} ${port}`], { nothrow: true })
  const body = r.stdout.split('\r\n\r\n')[1]
  return body === undefined ? `no answer (exit ${r.code}): ${r.stdout}${r.stderr}` : unmapped(body)
}

/** busybox httpd listens on IPv6 and reports an IPv4 client as [::ffff:a.b.c.d]. */
const unmapped = (addr: string) => addr.trim().replace(/^\[(?:::ffff:)?(.*)\]$/, '$1')

async function ping(c: Ctr, ip: string): Promise<boolean> {
  return (await podman(c.on, ['exec', c.name, 'ping', '-c', '1', '-W', '2', ip], { nothrow: true })).code === 0
}

/** The host-side veth of a container: libcni's cached result lists it. */
function vethOf(c: Ctr): string {
  const cached = JSON.parse(readFileSync(join(c.on.cniDir, 'results', `cbr0-${c.id}-eth0`), 'utf8'))
  const veth = (cached.result.interfaces as { name: string; sandbox?: string }[]).find((i) => i.name.startsWith('veth') && !i.sandbox)
  assert.ok(veth, `a host veth in libcni's cached result of ${c.name}`)
  return veth.name
}

async function linksOf(n: LabNode): Promise<string[]> {
  return JSON.parse((await run(['ip', '-n', n.ns, '-j', 'link', 'show'])).stdout).map((l: { ifname: string }) => l.ifname)
}

const inSubnet = (ip: string, n: LabNode) => ip.startsWith(lab.subnetOf(n).replace(/\.1\/24$/, '.')) && !ip.endsWith('.1')

before(async () => {
  rootfs = busyboxRootfs(join(scope.tmp('weft-podman-rootfs'), 'rootfs'))
  await lab.cluster(2, { pods: () => 0 })
  for (const n of lab.nodes) {
    const pn = await setUpPodmanNode(n, scope.tmp(`weft-podman-${n.name}`), dist)
    nodes.push(pn)
    scope.onClose(() => tearDownPodmanSync(pn))
  }
  await runServer(nodes[0], 'a', ['-p', `${HOST_PORT}:80`])
  await runServer(nodes[1], 'b')
  // host-gw: each node routes the other's subnet via its address (weft-routes, from etcd)
  for (const [n, m] of [lab.nodes, [...lab.nodes].reverse()]) {
    const want = lab.subnetOf(m).replace(/\.1\/24$/, '.0/24')
    await waitFor(`${n.name}'s route to ${want}`, async () => (await lab.routesOf(n)).some((r) => r.dst === want && r.gateway === m.ip), 30000, 200)
  }
})

after(async () => {
  for (const pn of nodes) await tearDownPodman(pn)
  await lab.down()
  await scope.close()
})

test("podman reads the conflist weft-install wrote: kube-flannel's, with the node's subnet file", async () => {
  for (const pn of nodes) {
    assert.equal(readFileSync(pn.conflist, 'utf8'), conflistText(pn.node.subnetFile))
    const net = JSON.parse((await podman(pn, ['network', 'inspect', 'cbr0'])).stdout)[0]
    assert.equal(net.name, 'cbr0')
    assert.equal(net.driver, 'flannel', JSON.stringify(net))
  }
})

test("each container gets an address inside its own node's subnet", async () => {
  for (const c of [ctrs.a, ctrs.b]) {
    assert.ok(inSubnet(c.ip, c.on.node), `${c.name}: ${c.ip} inside ${lab.subnetOf(c.on.node)}`)
    assert.deepEqual(cniCommands(c.on, c.id), ['ADD'])
  }
})

test('containers on different nodes ping each other', async () => {
  const [a, b] = [ctrs.a, ctrs.b]
  assert.ok(await ping(a, b.ip), 'a -> b')
  assert.ok(await ping(b, a.ip), 'b -> a')
})

test("across nodes the server sees the container's own address (no masquerade inside the network)", async () => {
  const [a, b] = [ctrs.a, ctrs.b]
  assert.equal(await sourceSeenFrom(a, b.ip), a.ip)
  assert.equal(await sourceSeenFrom(b, a.ip), b.ip)
})

test("traffic to a host outside the network leaves masqueraded to the node's address", async () => {
  const srv = scope.spawn(
    [process.execPath, '-e', `require('net').createServer(s=>{s.end('HTTP/1.0 200 OK\\r\\n\\r\\n'+s.remoteAddress)}).listen(80,'${OUTSIDE_IP}',()=>console.log('up'))`],
    { netns: lab.out },
  )
  await untilPrinted(srv, 'up')
  try {
    assert.equal(await sourceSeenFrom(ctrs.b, OUTSIDE_IP), lab.nodes[1].ip)
  } finally {
    srv.kill()
  }
})

test("-p HOST:CTR (portmap): the host port answers from another namespace, the client's address kept", async () => {
  const r = await run(['ip', 'netns', 'exec', lab.out, 'sh', '-c', `printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 ${lab.nodes[0].ip} ${HOST_PORT}`], {
    nothrow: true,
  })
  assert.equal(unmapped(r.stdout.split('\r\n\r\n')[1] ?? ''), OUTSIDE_IP, r.stdout + r.stderr)
  // and from a container on the other node: a node's address is outside the network, so node2
  // masquerades it on the way out, as flannel does
  assert.equal(await sourceSeenFrom(ctrs.b, lab.nodes[0].ip, HOST_PORT), lab.nodes[1].ip)
})

test("hairpin: a container reaches its own node's host port, i.e. itself", async () => {
  const seen = await sourceSeenFrom(ctrs.a, lab.nodes[0].ip, HOST_PORT)
  // portmap masquerades hairpin traffic to the bridge's address, so the reply can come back
  assert.equal(seen, lab.subnetOf(lab.nodes[0]).split('/')[0])
})

test('podman restart: DEL then ADD, an address in the subnet, the old one released, reachable', async () => {
  const b = ctrs.b
  const before = b.ip
  const oldVeth = vethOf(b)
  await podman(b.on, ['restart', '--time', '0', b.name])
  assert.deepEqual(cniCommands(b.on, b.id), ['ADD', 'DEL', 'ADD'])
  const now = (b.ip = await addressOf(b))
  assert.ok(inSubnet(now, b.on.node), now)
  if (now !== before) assert.ok(!readdirAlloc(b.on).includes(before), `${before} released`)
  assert.ok(!(await linksOf(b.on.node)).includes(oldVeth) || vethOf(b) === oldVeth, 'the old veth is gone')
  assert.ok(await ping(ctrs.a, now), 'a reaches b after the restart')
})

test('stop: DEL leaves nothing of the container on the node; start: ADD, reachable again', async () => {
  const b = ctrs.b
  const veth = vethOf(b)
  const ip = b.ip
  await podman(b.on, ['stop', '--time', '0', b.name])
  assert.equal(cniCommands(b.on, b.id).at(-1), 'DEL')
  assert.deepEqual(
    leftovers(b.on, b.id).filter((l) => !l.startsWith('runc')),
    [],
  )
  assert.ok(!(await linksOf(b.on.node)).includes(veth), `${veth} removed`)
  assert.ok(!readdirAlloc(b.on).includes(ip), `${ip} released`)
  assert.equal(await ping(ctrs.a, ip), false, "nothing answers on the stopped container's address")
  await podman(b.on, ['start', b.name])
  // podman 4.3.1 sends ADD on start, not CHECK (seen here); a CHECK, if a newer podman sends one, must have passed for start to succeed
  assert.equal(
    cniCommands(b.on, b.id)
      .filter((c) => c !== 'CHECK')
      .at(-1),
    'ADD',
  )
  const now = (b.ip = await addressOf(b))
  assert.ok(inSubnet(now, b.on.node), now)
  assert.ok(await ping(ctrs.a, now), 'a reaches b after start')
})

test("a container that exits by itself is torn down by conmon's cleanup (DEL), its address released", async () => {
  const pn = nodes[0]
  const r = await podman(pn, ['run', '-d', '--name', 'once', ...runFlags(pn), '--rootfs', rootfs, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])
  const c = (ctrs.once = { name: 'once', id: r.stdout.trim(), on: pn, ip: '' })
  await waitFor("conmon's cleanup to send DEL", () => cniCommands(pn, c.id).includes('DEL'), 30000, 100)
  const logs = (await podman(pn, ['logs', c.name])).stdout
  const ip = /inet (\S+)\//.exec(logs)?.[1] ?? ''
  assert.ok(inSubnet(ip, pn.node), `it had ${ip}`)
  await waitFor('nothing left of the exited container', () => leftovers(pn, c.id).filter((l) => !l.startsWith('runc')).length === 0 || undefined, 10000, 100)
  assert.ok(!readdirAlloc(pn).includes(ip))
})

test('four containers run at once get four addresses; removed at once, they leave nothing', async () => {
  const pn = nodes[1]
  const names = ['par1', 'par2', 'par3', 'par4']
  const ids = await Promise.all(
    names.map(async (name) => (await podman(pn, ['run', '-d', '--name', name, ...runFlags(pn), '--rootfs', rootfs, 'httpd', '-f', '-p', '80', '-h', '/www'])).stdout.trim()),
  )
  const ips = await Promise.all(names.map(async (name, i) => addressOf({ name, id: ids[i], on: pn, ip: '' })))
  assert.equal(new Set(ips).size, 4, ips.join(' '))
  for (const ip of ips) assert.ok(inSubnet(ip, pn.node), ip)
  await Promise.all(names.map((name) => podman(pn, ['rm', '--force', '--time', '0', name])))
  for (const id of ids) assert.deepEqual(leftovers(pn, id), [], id)
  for (const ip of ips) assert.ok(!readdirAlloc(pn).includes(ip), `${ip} released`)
})

test('podman rm leaves nothing: no veth, no allocation, no scratch file, no libcni cache entry, no runc state', async () => {
  for (const c of Object.values(ctrs)) {
    const veth = c.name === 'once' ? undefined : vethOf(c)
    await podman(c.on, ['rm', '--force', '--time', '0', c.name])
    assert.deepEqual(leftovers(c.on, c.id), [], c.name)
    if (veth) assert.ok(!(await linksOf(c.on.node)).includes(veth), `${c.name}: ${veth} removed`)
  }
  for (const pn of nodes) {
    assert.deepEqual(
      (await linksOf(pn.node)).filter((l) => l.startsWith('veth')),
      [],
      `${pn.node.name}: no veth left`,
    )
    assert.deepEqual(readdirAlloc(pn), [], `${pn.node.name}: no address allocated`)
    assert.equal((await podman(pn, ['ps', '--all', '--quiet'])).stdout.trim(), '')
  }
  // portmap's per-container chain is gone with it
  const nat = (await run(['ip', 'netns', 'exec', lab.nodes[0].ns, 'iptables', '-t', 'nat', '-S'])).stdout
  assert.doesNotMatch(nat, new RegExp(`--dport ${HOST_PORT} .*DNAT`))
})

/** host-local's allocated addresses on the node (its files named by address). */
function readdirAlloc(pn: PodmanNode): string[] {
  const dir = join(pn.cniDir, 'networks/cbr0')
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d/.test(f)) : []
}
