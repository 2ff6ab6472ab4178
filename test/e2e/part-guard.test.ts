// Parts cannot outlive flanneld or run twice (issue 13 item 6): kill -9 of flanneld, and its
// three parts stop by themselves within 2 s; a restarted flanneld brings up one of each, never
// two; a second copy of a part for the same node refuses to run, naming the copy that runs.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { Scope, dist, must, waitFor } from '../helpers/scope.ts'
import { startEtcd, etcdctl } from '../helpers/etcd.ts'

const scope = new Scope()
after(() => scope.close())

const PARTS = ['weft-subnet', 'weft-masq', 'weft-routes']

/** pid -> part name, for every part process whose command line names this node's subnet file. */
function parts(subnetFile: string): Map<number, string> {
  const out = new Map<number, string>()
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
      const part = PARTS.find((x) => argv.some((a) => a.endsWith(`/${x}`)))
      if (part && argv.includes(`--subnet-file=${subnetFile}`)) out.set(Number(p), part)
    } catch {}
  }
  // A part forking a command (zx -> bash) shows its own command line until the exec: not a copy.
  for (const pid of [...out.keys()]) {
    try {
      const ppid = Number(
        readFileSync(`/proc/${pid}/stat`, 'utf8')
          .replace(/^.*\) /s, '')
          .split(' ')[1],
      )
      if (out.has(ppid)) out.delete(pid)
    } catch {
      out.delete(pid)
    }
  }
  return out
}
const count = (m: Map<number, string>, part: string) => [...m.values()].filter((x) => x === part).length

test('kill -9 of flanneld: its parts are gone within 2 s; a restart brings one of each back; a second copy refuses', { timeout: 120_000 }, async () => {
  const ns = scope.ns('pg')
  must(['ip', '-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'])
  must(['ip', '-n', ns, 'link', 'set', 'd1', 'up'])
  must(['ip', '-n', ns, 'addr', 'add', '192.168.91.1/24', 'dev', 'd0'])
  must(['ip', '-n', ns, 'link', 'set', 'd0', 'up'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  assert.equal(etcdctl(etcd.endpoint, ['put', '/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'], { netns: ns }).code, 0)
  const file = `${scope.tmp()}/run/subnet.env`
  const flanneld = () => scope.spawn([process.execPath, dist('flanneld'), '--iface=d0', `--etcd-endpoints=${etcd.endpoint}`, `--subnet-file=${file}`, '--ip-masq'], { netns: ns })
  let tooMany = ''
  const allUp = () => {
    const m = parts(file)
    for (const x of PARTS) if (count(m, x) > 1) tooMany ||= `${count(m, x)} copies of ${x}`
    return PARTS.every((x) => count(m, x) === 1) && m
  }

  const first = flanneld()
  let log1 = ''
  first.stderr!.on('data', (d) => (log1 += d))
  const before = await waitFor('the three parts', allUp, 30000, 50)
  // running, not still loading: the masquerade rules in place and the route syncer watching
  await waitFor('the parts at work', () => /weft-masq rules in place/.test(log1) && /weft-routes watching/.test(log1), 30000)
  first.kill('SIGKILL')
  const t0 = Date.now()
  await waitFor('the parts to stop after flanneld died', () => [...before.keys()].every((pid) => !parts(file).has(pid)), 10000, 20)
  const goneMs = Date.now() - t0
  assert.ok(goneMs <= 2000, `parts took ${goneMs} ms to stop (killed at ${new Date(t0).toISOString()}):\n${log1.split('\n').slice(-8).join('\n')}`)

  const second = flanneld()
  let log2 = ''
  second.stderr!.on('data', (d) => (log2 += d))
  await waitFor('the route syncer at work again', () => /weft-routes watching/.test(log2), 30000)
  const after2 = await waitFor('the three parts again', allUp, 30000, 50)
  assert.equal(tooMany, '', 'more than one copy of a part ran at once')
  assert.ok([...after2.keys()].every((pid) => !before.has(pid)))

  // An operator starting a second route syncer for this node by hand:
  const h = spawnSync('ip', ['netns', 'exec', ns, process.execPath, dist('weft-routes'), '--iface=d0', `--etcd-endpoints=${etcd.endpoint}`, `--subnet-file=${file}`], {
    encoding: 'utf8',
    timeout: 20000,
    killSignal: 'SIGKILL',
  })
  const r = { code: h.status, stderr: h.stderr }
  const holder = [...after2].find(([, x]) => x === 'weft-routes')![0]
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, new RegExp(`weft-routes is already running for this node \\(pid ${holder}, lock .*\\.weft-routes\\.\\d+\\.lock\\): refusing to run a second copy`))
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  second.kill('SIGTERM')
  console.log(`# parts gone ${goneMs} ms after kill -9 of flanneld`)
})

test('kill -9 of each part: flanneld brings it back, one copy, the stale lock taken over', { timeout: 180_000 }, async () => {
  const ns = scope.ns('pg')
  must(['ip', '-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'])
  must(['ip', '-n', ns, 'link', 'set', 'd1', 'up'])
  must(['ip', '-n', ns, 'addr', 'add', '192.168.92.1/24', 'dev', 'd0'])
  must(['ip', '-n', ns, 'link', 'set', 'd0', 'up'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  assert.equal(etcdctl(etcd.endpoint, ['put', '/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'], { netns: ns }).code, 0)
  const file = `${scope.tmp()}/run/subnet.env`
  const f = scope.spawn([process.execPath, dist('flanneld'), '--iface=d0', `--etcd-endpoints=${etcd.endpoint}`, `--subnet-file=${file}`, '--ip-masq'], { netns: ns })
  let log = ''
  f.stderr!.on('data', (d) => (log += d))
  let tooMany = ''
  const one = (m: Map<number, string>) => {
    for (const x of PARTS)
      if (count(m, x) > 1)
        tooMany ||= `${count(m, x)} copies of ${x}: ${[...m].map(([pid, n]) => `${n} ${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`).join('; ')}\n${log}`
    return PARTS.every((x) => count(m, x) === 1)
  }
  await waitFor('the parts at work', () => /weft-masq rules in place/.test(log) && /weft-routes watching/.test(log) && one(parts(file)), 30000)
  const times: string[] = []
  for (const part of PARTS) {
    const [pid] = [...parts(file)].find(([, x]) => x === part)!
    process.kill(pid, 'SIGKILL')
    const t0 = Date.now()
    await waitFor(
      `${part} back`,
      () => {
        const m = parts(file)
        return one(m) && ![...m.keys()].includes(pid) && m
      },
      20000,
      20,
    )
    times.push(`${part} ${Date.now() - t0} ms`)
  }
  assert.equal(tooMany, '')
  assert.doesNotMatch(log, /already running for this node/)
  console.log(`# back after kill -9: ${times.join(', ')} (flanneld restarts a part after 1 s)`)
  f.kill('SIGTERM')
})
