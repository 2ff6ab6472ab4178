// flanneld on its own, in a throwaway namespace: bad flags and health before readiness.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, existsSync } from 'node:fs'
import { Scope, inNs, dist, waitFor } from '../helpers/scope.ts'

const scope = new Scope()
after(() => scope.close())

test('--iface naming no interface: a clear message and exit 1', () => {
  const ns = scope.ns('fd')
  const r = inNs(ns, [process.execPath, dist('flanneld'), '--iface=nosuch0', '--etcd-endpoints=http://127.0.0.1:1'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /failed to find any interface to use \(--iface nosuch0/)
})

test('--subnet-lease-renew-margin out of 1..1439 is refused', () => {
  const r = inNs(scope.ns('fd'), [process.execPath, dist('flanneld'), '--subnet-lease-renew-margin=1440'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /subnet-lease-renew-margin/)
})

test('an unknown flag is a usage error naming it', () => {
  const r = inNs(scope.ns('fd'), [process.execPath, dist('flanneld'), '--no-such-flag'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /flag provided but not defined: -no-such-flag/)
})

test('/healthz is 200 and /readyz 503 while etcd is unreachable; SIGTERM exits 0', async () => {
  const ns = scope.ns('fd')
  const tmp = scope.tmp()
  const p = scope.spawn(
    [process.execPath, dist('flanneld'), '--iface=lo', '--etcd-endpoints=http://127.0.0.1:1', `--subnet-file=${tmp}/subnet.env`, '--healthz-ip=127.0.0.1', '--healthz-port=18081'],
    { netns: ns },
  )
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  const js = `Promise.all(['/healthz','/readyz'].map(p=>fetch('http://127.0.0.1:18081'+p).then(async r=>r.status+' '+(await r.text())))).then(x=>console.log(x.join(',')),()=>console.log('down'))`
  const out = await waitFor('health endpoints', () => {
    const r = inNs(ns, [process.execPath, '-e', js]).stdout.trim()
    return r !== 'down' && r
  })
  // flanneld's bodies; weft adds the reason after the 503's.
  assert.match(out, /^200 flanneld is running,503 flanneld is not ready yet: /)
  await waitFor('the writer to say it waits for etcd', () => /etcd/i.test(log) && /wait|unreachable|retry/i.test(log), 10000)
  const code = await new Promise((res) => {
    p.once('exit', (c) => res(c))
    p.kill('SIGTERM')
  })
  assert.equal(code, 0)
})

test('flanneld --kube-subnet-mgr without net-conf or credentials, or with a kubeconfig it cannot read: one usage line, exit 2', () => {
  const ns = scope.ns('fd')
  const tmp = scope.tmp()
  const env = { PATH: process.env.PATH }
  const kube = (...a: string[]) => inNs(ns, [process.execPath, dist('flanneld'), '--kube-subnet-mgr', `--subnet-file=${tmp}/subnet.env`, ...a], { env })
  let k = kube('--net-config-path=/nonexistent/net-conf.json')
  assert.equal(k.code, 2)
  assert.match(k.stderr, /failed to read net conf \/nonexistent\/net-conf\.json/)
  writeFileSync(`${tmp}/net-conf.json`, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
  k = kube(`--net-config-path=${tmp}/net-conf.json`)
  assert.equal(k.code, 2)
  assert.match(k.stderr, /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined/)
  writeFileSync(`${tmp}/kubeconfig`, 'current-context: c\ncontexts:\n- name: c\n  context: {cluster: x}\n')
  k = kube(`--net-config-path=${tmp}/net-conf.json`, `--kubeconfig-file=${tmp}/kubeconfig`)
  assert.equal(k.code, 2)
  assert.match(k.stderr, /kubeconfig .*unsupported YAML/)
  // a net-conf weft cannot run: refused at once, as a usage error, before any request
  for (const [conf, why] of [
    ['{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}', /IPv6-only \(EnableIPv4 false\) is not supported by weft yet/],
    ['{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}', /udp/],
    ['{"Network":"127.0.0.0/16","Backend":{"Type":"host-gw"}}', /loopback/],
  ] as const) {
    writeFileSync(`${tmp}/bad-net-conf.json`, conf)
    k = kube(`--net-config-path=${tmp}/bad-net-conf.json`, `--kubeconfig-file=${tmp}/kubeconfig`)
    assert.equal(k.code, 2, k.stderr)
    assert.match(k.stderr, why)
  }
  assert.equal(existsSync(`${tmp}/subnet.env`), false)
})

test('--iface-can-reach picks the interface of the route towards that address', async () => {
  const ns = scope.ns('fd')
  const peer = scope.ns('fd')
  inNs(ns, ['ip', 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'p0', 'netns', peer])
  inNs(ns, ['ip', 'addr', 'add', '198.51.100.7/24', 'dev', 'ext0'])
  inNs(ns, ['ip', 'link', 'set', 'ext0', 'up'])
  const tmp = scope.tmp()
  const p = scope.spawn([process.execPath, dist('flanneld'), '--iface-can-reach=198.51.100.1', '--etcd-endpoints=http://127.0.0.1:1', `--subnet-file=${tmp}/subnet.env`], {
    netns: ns,
  })
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('the interface choice', () => /Using interface with name ext0 and address 198\.51\.100\.7/.test(log))
})

test('under journald (JOURNAL_STREAM names stderr): no timestamps, a syslog priority per line, the parts too', async () => {
  const { openSync, fstatSync, readFileSync, closeSync } = await import('node:fs')
  const ns = scope.ns('fd')
  const tmp = scope.tmp()
  const fd = openSync(`${tmp}/journal`, 'a')
  const st = fstatSync(fd)
  const p = scope.spawn([process.execPath, dist('flanneld'), '--iface=lo', '--etcd-endpoints=http://127.0.0.1:1', `--subnet-file=${tmp}/subnet.env`], {
    netns: ns,
    stdio: ['ignore', 'ignore', fd],
    env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
  })
  closeSync(fd)
  const text = () => readFileSync(`${tmp}/journal`, 'utf8')
  await waitFor('the writer to say it waits for etcd', () => /^<6>weft-subnet waiting for etcd/m.test(text()), 15000)
  assert.match(text(), /^<6>flanneld Using interface with name lo and address 127\.0\.0\.1$/m)
  for (const line of text().trimEnd().split('\n')) assert.match(line, /^<[3467]>(flanneld|weft-subnet) \S/, line)
  assert.doesNotMatch(text(), /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/)
  p.kill('SIGTERM')
})
