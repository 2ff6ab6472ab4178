// kubeconfig YAML (the subset kubeconfigs use) and the credentials it names.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseYaml } from '../../scripts/lib/registry/kube/yaml.ts'
import { loadTarget, ConfigError } from '../../scripts/lib/registry/kube/credentials.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-kubeconfig-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const write = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name))

const KUBECONFIG = `apiVersion: v1
kind: Config
# written by kubeadm
clusters:
- cluster:
    certificate-authority-data: ${Buffer.from('CA PEM').toString('base64')}
    server: https://10.0.0.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: "flannel"
  name: flannel@kubernetes
current-context: 'flannel@kubernetes'
preferences: {}
users:
- name: flannel
  user:
    token: abc.def   # the service account token
`

test('yaml: the kubeconfig subset, as kubectl writes it', () => {
  const y = parseYaml(KUBECONFIG) as any
  assert.equal(y['current-context'], 'flannel@kubernetes')
  assert.equal(y.clusters[0].cluster.server, 'https://10.0.0.1:6443')
  assert.equal(y.clusters[0].name, 'kubernetes')
  assert.equal(y.contexts[0].context.user, 'flannel')
  assert.deepEqual(y.preferences, {})
  assert.equal(y.users[0].user.token, 'abc.def')
  assert.deepEqual(parseYaml('a:\n- x\n- "y z"\nb: true\nc: ~\n'), { a: ['x', 'y z'], b: true, c: null })
  assert.deepEqual(parseYaml('{"a": [1]}'), { a: [1] }, 'JSON is YAML')
})

test('yaml: what it does not read is refused by line, not misread', () => {
  assert.throws(() => parseYaml('a: &x 1\n'), /line 1: unsupported YAML/)
  assert.throws(() => parseYaml('a: |\n  text\n'), /line 1: unsupported YAML/)
  assert.throws(() => parseYaml('a:\n  b: 1\n c: 2\n'), /line 3: unexpected indentation/)
  assert.throws(() => parseYaml('a: 1\n\tb: 2\n'), /tabs/)
})

test('kubeconfig: token, CA data, current context; --kube-api-url overrides the server', () => {
  const t = loadTarget({ kubeconfig: write('k1.yaml', KUBECONFIG) })
  assert.equal(t.server.href, 'https://10.0.0.1:6443/')
  assert.equal(t.ca, 'CA PEM')
  assert.equal(t.token(), 'abc.def')
  assert.equal(t.insecure, false)
  assert.equal(loadTarget({ kubeconfig: join(dir, 'k1.yaml'), apiUrl: 'https://10.0.0.2:443' }).server.host, '10.0.0.2')
})

test('kubeconfig: a token file is re-read when it rotates; files relative to the kubeconfig', () => {
  write('ca.crt', 'CA FILE')
  const tok = write('token', 'one\n')
  const kc = write(
    'k2.yaml',
    KUBECONFIG.replace(/certificate-authority-data: .*/, 'certificate-authority: ca.crt').replace('token: abc.def   # the service account token', 'tokenFile: token'),
  )
  const t = loadTarget({ kubeconfig: kc })
  assert.equal(t.ca, 'CA FILE')
  assert.equal(t.token(), 'one')
  writeFileSync(tok, 'two-longer\n')
  utimesSync(tok, new Date(), new Date(Date.now() + 5000))
  assert.equal(t.token(), 'two-longer')
})

test('kubeconfig and in-cluster: bad settings are ConfigErrors naming what is wrong', () => {
  assert.throws(
    () => loadTarget({ kubeconfig: join(dir, 'missing.yaml') }),
    (e) => e instanceof ConfigError && /cannot read kubeconfig/.test(e.message),
  )
  assert.throws(
    () => loadTarget({ kubeconfig: write('k3.yaml', KUBECONFIG.replace("current-context: 'flannel@kubernetes'", 'current-context: other')) }),
    /no context named "other"/,
  )
  assert.throws(
    () => loadTarget({ kubeconfig: write('k4.yaml', KUBECONFIG.replace('https://10.0.0.1:6443', 'http://10.0.0.1:8080')) }),
    /only https:\/\/ is supported with credentials/,
  )
  // --kube-api-url alone carries no credentials: http:// is allowed there (kubectl proxy), as client-go allows it.
  const plain = loadTarget({ apiUrl: 'http://127.0.0.1:8001', env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } })
  assert.equal(plain.server.href, 'http://127.0.0.1:8001/')
  assert.equal(plain.token(), undefined, 'the in-cluster token is not used with --kube-api-url (client-go: the override wins)')
  assert.match(plain.source, /no credentials/)
  assert.throws(() => loadTarget({ kubeconfig: write('k5.yaml', KUBECONFIG.replace('token: abc.def', 'exec:\n      command: aws')) }), /exec\/auth-provider/)
  assert.throws(() => loadTarget({ kubeconfig: write('k6.yaml', 'a: [1, 2]\n') }), /unsupported YAML/)
  assert.throws(() => loadTarget({ env: {} }), /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined/)
  assert.throws(
    () => loadTarget({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, saDir: join(dir, 'nosa') }),
    /cannot read the service account token/,
  )
})

test("in-cluster: service host and port, the account's token and CA", () => {
  write('sa-token', 'satoken')
  const sa = mkdtempSync(join(dir, 'sa-'))
  writeFileSync(join(sa, 'token'), 'satoken\n')
  writeFileSync(join(sa, 'ca.crt'), 'SA CA')
  const t = loadTarget({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, saDir: sa })
  assert.equal(t.server.href, 'https://[fd00::1]/')
  assert.equal(t.token(), 'satoken')
  assert.equal(t.ca, 'SA CA')
})
