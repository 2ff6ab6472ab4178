// flanneld stopped while it reads the network config to start weft-masq/weft-routes (the moment
// subnet.env is written): no part may be started after the stop began, or it outlives flanneld.
// The window is made wide on purpose: the first etcd endpoint drops every packet (a veth whose
// peer namespace never accepts the frames), so each fresh client spends its 5 s connect timeout
// there; the writer is held stopped (SIGSTOP) so flanneld's shutdown waits for it. Everything
// lives in two throwaway namespaces.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Scope, inNs, must, sh, dist, waitFor } from '../helpers/scope.ts'
import { holdsFor } from '../helpers/wait.ts'
import { startEtcd, etcdctl } from '../helpers/etcd.ts'

const scope = new Scope()
after(() => scope.close())

test('SIGTERM while flanneld reads the config after subnet.env: no part started afterwards, none left behind', { timeout: 60_000 }, async () => {
  const ns = scope.ns('rvst')
  const sink = scope.ns('rvsk')
  must(['ip', '-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1', 'netns', sink])
  must(['ip', '-n', ns, 'addr', 'add', '10.99.0.2/24', 'dev', 'd0'])
  must(['ip', '-n', ns, 'link', 'set', 'd0', 'up'])
  must(['ip', '-n', sink, 'link', 'set', 'd1', 'up'])
  // 10.99.0.1 "answers ARP" with a MAC nobody has: the sink namespace drops every frame silently.
  must(['ip', '-n', ns, 'neigh', 'add', '10.99.0.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'd0', 'nud', 'permanent'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  assert.equal(etcdctl(etcd.endpoint, ['put', '/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'], { netns: ns }).code, 0)
  const tmp = scope.tmp()
  const p = scope.spawn(
    [process.execPath, dist('flanneld'), '--iface=d0', `--etcd-endpoints=http://10.99.0.1:2379,${etcd.endpoint}`, `--subnet-file=${tmp}/subnet.env`, '--ip-masq'],
    { netns: ns },
  )
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  const writerPid = Number(await waitFor('the writer to start', () => /started weft-subnet \(pid (\d+)\)/.exec(log)?.[1], 10_000))
  // subnet.env is written: flanneld now reads the config (5 s on the dead endpoint) before it starts
  // weft-masq and weft-routes (its 'flannel is ready' comes only once they are ready too).
  await waitFor('flanneld to see subnet.env written', () => /flanneld Wrote subnet file/.test(log), 20_000)
  // A failing test must not leave a stopped writer behind (flanneld would SIGKILL it, scope stops flanneld sooner).
  scope.onClose(() => {
    try {
      if (readFileSync(`/proc/${writerPid}/cmdline`, 'utf8').includes(`${tmp}/subnet.env`)) process.kill(writerPid, 'SIGKILL')
    } catch {}
  })
  process.kill(writerPid, 'SIGSTOP') // flanneld's shutdown now waits 5 s for it, then SIGKILLs it
  // The SIGTERM must come while flanneld reads the config: the writer stopped, and flanneld's
  // connection to the dead endpoint still trying (SYN-SENT, its 5 s connect timeout running).
  await waitFor('the writer stopped', () => /^\d+ \(.*\) T /.test(readFileSync(`/proc/${writerPid}/stat`, 'utf8')), 5000)
  await waitFor('flanneld connecting to the dead endpoint', () => inNs(ns, ['ss', '-tnpH', 'state', 'syn-sent', 'dst', '10.99.0.1:2379']).stdout.includes(`pid=${p.pid},`), 5000)
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
  p.kill('SIGTERM')
  assert.equal(await exited, 0, log)
  // A part started late would show up now or in the moments after; none may, over a while.
  // `--` before the pattern: pgrep takes "--subnet-file=..." for an option of its own otherwise
  // (exit 2, nothing on stdout), which read as "none left" whatever was running.
  const left = () => {
    const r = sh(['pgrep', '-f', '--', `--subnet-file=${tmp}/subnet.env`])
    assert.ok(r.code === 0 || r.code === 1, `pgrep: ${r.stderr}`)
    return r.stdout.trim()
  }
  await holdsFor('no part running after flanneld exited', () => left() === '', 1500).catch((e) => {
    const pids = left()
    if (pids) sh(['kill', '-9', ...pids.split('\n')])
    assert.fail(`${e.message}: ${pids}\n${log}`)
  })
  assert.doesNotMatch(log, /started weft-(masq|routes)/)
  assert.equal(inNs(ns, ['true']).code, 0)
})
