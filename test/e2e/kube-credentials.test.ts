// Credentials in Kubernetes mode not covered by kube-mode.test.ts: insecure-skip-tls-verify (honoured
// only when set to true, and said in the log), and --kube-api-url without a kubeconfig, which in
// client-go's BuildConfigFromFlags means that URL with no credentials at all (the in-cluster token
// is not sent: the overridden config is not the default one, so in-cluster is never consulted),
// verified against the system CAs, and plain http allowed (kubectl proxy, real here, in front of the
// double).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Scope, inNs, must, dist } from '../helpers/scope.ts'
import { startKubeDouble, type KubeDouble } from '../helpers/kube-double-client.ts'

const P = 'flannel.alpha.coreos.com/'
const scope = new Scope()
after(() => scope.close())
let ns: string
let d: KubeDouble
let netConf: string
let dir: string
let k = 0

/** weft-subnet --once for Node n1 with these credential flags and environment; its subnet file. */
function subnet(flags: string[], env: Record<string, string> = {}) {
  const file = join(dir, `s${++k}.env`)
  const r = inNs(ns, [
    'env',
    '-u',
    'NODE_EXTRA_CA_CERTS',
    'NODE_NAME=n1',
    ...Object.entries(env).map(([a, b]) => `${a}=${b}`),
    process.execPath,
    dist('weft-subnet'),
    '--kube-subnet-mgr',
    ...flags,
    `--net-config-path=${netConf}`,
    '--public-ip=10.1.0.11',
    '--mtu=1500',
    `--subnet-file=${file}`,
    '--once',
  ])
  return { ...r, file }
}

before(async () => {
  ns = scope.ns('kcred')
  must(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'])
  must(['ip', '-n', ns, 'addr', 'add', '10.1.0.11/24', 'dev', 'eth0'])
  must(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
  d = await startKubeDouble(scope, { netns: ns, host: '127.0.0.1' })
  dir = scope.tmp('kcred')
  netConf = join(dir, 'net-conf.json')
  writeFileSync(netConf, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}\n')
  await d.node('n1', '10.244.1.0/24')
})

test('insecure-skip-tls-verify: true: the certificate is not verified, and the log says so', async () => {
  const kc = d.kubeconfig({ token: d.flannelToken, insecure: true, name: 'insecure' })
  const r = subnet([`--kubeconfig-file=${kc}`])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /insecure-skip-tls-verify is set \(kubeconfig .*insecure\.yaml \(context c\)\): the API server's certificate is NOT verified/)
  assert.equal(readFileSync(r.file, 'utf8'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
  assert.equal((await d.call<any>('getNode', 'n1')).metadata.annotations[`${P}public-ip`], '10.1.0.11')
})

test('insecure-skip-tls-verify: false, or absent, with no CA: verified against the system CAs, refused before any request', async () => {
  const insecure = readFileSync(d.kubeconfig({ token: d.flannelToken, insecure: true, name: 'x' }), 'utf8')
  for (const [name, line] of [
    ['false', '    insecure-skip-tls-verify: false'],
    ['absent', ''],
  ]) {
    const kc = join(dir, `verify-${name}.yaml`)
    writeFileSync(kc, insecure.replace('    insecure-skip-tls-verify: true', line))
    await d.call('timeline')
    const r = subnet([`--kubeconfig-file=${kc}`])
    assert.notEqual(r.code, 0, `${name}: ${r.stderr}`)
    assert.match(r.stderr, /presented a certificate we do not trust/, name)
    assert.doesNotMatch(r.stderr, /NOT verified/, name)
    assert.deepEqual(await d.call('timeline'), [], `${name}: no request (and so no token) reached the server`)
    assert.equal(existsSync(r.file), false)
  }
})

test('--kube-api-url alone: no credentials are sent, not even the in-cluster token; 401 is permanent', async () => {
  const sa = scope.tmp('sa')
  writeFileSync(join(sa, 'token'), d.flannelToken + '\n')
  writeFileSync(join(sa, 'ca.crt'), d.ca.cert)
  // The double's CA as a system CA (Node's NODE_EXTRA_CA_CERTS): TLS passes, authentication is what is judged.
  const r = subnet([`--kube-api-url=${d.url}`], {
    NODE_EXTRA_CA_CERTS: d.ca.certFile,
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: new URL(d.url).port,
    WEFT_KUBE_SERVICEACCOUNT_DIR: sa,
  })
  assert.notEqual(r.code, 0, r.stderr)
  assert.match(r.stderr, /credentials from --kube-api-url https:\/\/127\.0\.0\.1:\d+ \(no kubeconfig: no credentials, system CAs\)/)
  assert.match(r.stderr, /the API server refused our credentials \(401 Unauthorized\) for GET \/api\/v1\/nodes\/n1; check --kube-api-url/)
  // counted by its message: a bare /401/ also matches a timestamp's milliseconds or a port
  assert.equal((r.stderr.match(/refused our credentials \(401 Unauthorized\)/g) ?? []).length, 1, `said once, not retried: ${r.stderr}`)
  assert.equal(existsSync(r.file), false)
})

test('--kube-api-url http:// through kubectl proxy (real, with the flannel account): the Node is read and annotated', async () => {
  await d.node('n2', '10.244.2.0/24')
  const kc = d.kubeconfig({ token: d.flannelToken, name: 'proxy' })
  const proxy = scope.spawn(['kubectl', '--kubeconfig', kc, 'proxy', '--address=127.0.0.1', '--port=0'], { netns: ns })
  const port = await new Promise<string>((resolve, reject) => {
    proxy.once('exit', (c) => reject(new Error(`kubectl proxy exited ${c}`)))
    createInterface({ input: proxy.stdout! }).on('line', (l) => {
      const m = /Starting to serve on 127\.0\.0\.1:(\d+)/.exec(l)
      if (m) resolve(m[1])
    })
  })
  const file = join(dir, 'proxy.env')
  const r = inNs(ns, [
    'env',
    'NODE_NAME=n2',
    process.execPath,
    dist('weft-subnet'),
    '--kube-subnet-mgr',
    `--kube-api-url=http://127.0.0.1:${port}`,
    `--net-config-path=${netConf}`,
    '--public-ip=10.1.0.11',
    '--mtu=1500',
    `--subnet-file=${file}`,
    '--once',
  ])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /the API server http:\/\/127\.0\.0\.1:\d+ is plain http \(--kube-api-url\)/)
  assert.equal(readFileSync(file, 'utf8'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
  assert.equal((await d.call<any>('getNode', 'n2')).metadata.annotations[`${P}kube-subnet-manager`], 'true')
})
