// Promises of README.md and --help that no other test exercised: flanneld starts unchanged with
// the kube-only and klog flags of a unit written for flannel's etcd mode; weft-install's
// --bin-dir/--cni-bin-dir/--cni-conf-dir/--systemd-dir/--no-conflist put the files where they say.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, sh, dist, waitFor } from '../helpers/scope.ts'

const scope = new Scope()
after(() => scope.close())

test('flanneld accepts and ignores the kube-only and klog flags (a flannel etcd-mode unit starts unchanged)', async () => {
  const ns = scope.ns('rvf')
  const tmp = scope.tmp()
  const ignored = [
    '--kube-api-url=https://10.0.0.1:6443',
    '--kubeconfig-file=/nonexistent/kubeconfig',
    '--kube-annotation-prefix=flannel.alpha.coreos.com',
    '--net-config-path=/etc/kube-flannel/net-conf.json',
    '--set-node-network-unavailable=false',
    '-vmodule=main=2',
    '-log_backtrace_at=main.go:10',
    '-v=2',
  ]
  // etcd on the namespace's own loopback, where nothing listens: the writer waits for it.
  const p = scope.spawn([process.execPath, dist('flanneld'), '--iface=lo', '--etcd-endpoints=http://127.0.0.1:1', `--subnet-file=${tmp}/subnet.env`, ...ignored], { netns: ns })
  let log = ''
  let exited: number | null | undefined
  p.stderr!.on('data', (d) => (log += d))
  p.once('exit', (c) => (exited = c))
  await waitFor(
    'the writer to start and wait for etcd',
    () => {
      if (exited !== undefined) throw new Error(`flanneld exited (${exited}): ${log}`)
      return /started weft-subnet/.test(log) && /etcd/i.test(log) && /wait|unreachable|retry/i.test(log)
    },
    10000,
  )
  assert.doesNotMatch(log, /not defined|not supported/)
  const code = await new Promise((res) => {
    if (exited !== undefined) return res(exited)
    p.once('exit', (c) => res(c))
    p.kill('SIGTERM')
  })
  assert.equal(code, 0)
})

test('weft-install --bin-dir/--cni-bin-dir/--cni-conf-dir/--systemd-dir/--no-conflist: files where the flags say, unit naming <bin-dir>/flanneld', () => {
  const root = scope.tmp()
  const r = sh([
    process.execPath,
    dist('weft-install'),
    '--root',
    root,
    '--bin-dir=/usr/local/bin',
    '--cni-bin-dir=/x/cni',
    '--cni-conf-dir=/x/net.d',
    '--systemd-dir=/x/sd',
    '--no-conflist',
    '--',
    '--etcd-endpoints=http://10.0.0.1:2379',
  ])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(readFileSync(join(root, 'x/cni/flannel')), readFileSync(dist('flannel')))
  for (const b of ['flanneld', 'weft-subnet', 'weft-masq', 'weft-routes']) {
    assert.deepEqual(readFileSync(join(root, 'usr/local/bin', b)), readFileSync(dist(b)), b)
    assert.equal(statSync(join(root, 'usr/local/bin', b)).mode & 0o777, 0o755, b)
  }
  assert.equal(existsSync(join(root, 'x/net.d')), false, '--no-conflist wrote no conflist')
  assert.equal(existsSync(join(root, 'etc/cni/net.d')), false, 'nothing at the default conf dir')
  assert.equal(existsSync(join(root, 'opt')), false, 'nothing at the default bin dirs')
  assert.match(readFileSync(join(root, 'x/sd/flanneld.service'), 'utf8'), /^ExecStart=\/usr\/local\/bin\/flanneld --etcd-endpoints=http:\/\/10\.0\.0\.1:2379$/m)
})
