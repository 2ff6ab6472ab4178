// deploy/kube-flannel.yml against the Kubernetes API schemas: every object validated by
// kubernetes-models (types, required fields, enums), and every field name checked against the
// official Python client's models (Debian's python3-kubernetes), which kubernetes-models does not
// do. Then what it must say to be kube-flannel's equivalent, and that weft's own parsers accept
// what it hands them (the init containers' weft-install flags, flanneld's flags, the ConfigMap).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { Namespace, ServiceAccount, ConfigMap } from 'kubernetes-models/v1'
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1'
import { DaemonSet } from 'kubernetes-models/apps/v1'
import { sh, dist, root } from '../helpers/scope.ts'
import { parseFlanneldArgs, flanneldValueError } from '../../scripts/lib/daemon/flanneld-flags.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { CONFLIST } from '../../scripts/lib/install/files.ts'

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: any }
const MODELS: Record<string, new (o: any) => { validate(): void }> = { Namespace, ServiceAccount, ConfigMap, ClusterRole, ClusterRoleBinding, DaemonSet }
const load = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter(Boolean)
const text = readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8')
const objs = load(text)
const get = (kind: string) => objs.find((o) => o.kind === kind)!

// Walks an object along the Python client's model of its kind: openapi_types (field -> type) and
// attribute_map (python name -> JSON name). Prints one line per field the API does not have.
const STRICT = `
import json, re, sys, kubernetes.client as k
def walk(v, t, path, out):
    if v is None: return
    m = re.match(r'list\\[(.*)\\]$', t)
    if m:
        for i, x in enumerate(v): walk(x, m.group(1), f'{path}[{i}]', out)
        return
    m = re.match(r'dict\\(str, (.*)\\)$', t)
    if m:
        for key, x in v.items(): walk(x, m.group(1), f'{path}.{key}', out)
        return
    cls = getattr(k, t, None)
    if cls is None: return  # str, int, bool, object
    names = {js: py for py, js in cls.attribute_map.items()}
    for key, x in v.items():
        if key not in names: out.append(f'{path}.{key}: not a field of {t}')
        else: walk(x, cls.openapi_types[names[key]], f'{path}.{key}', out)
out = []
for o in json.load(sys.stdin):
    ver = o['apiVersion'].split('/')[-1].capitalize()  # apps/v1 -> V1, so V1DaemonSet
    walk(o, f'{ver}{o["kind"]}', o['kind'], out)
print('\\n'.join(out))
`
function unknownFields(docs: Obj[]): string[] {
  const r = sh(['/usr/bin/python3', '-c', STRICT], { input: JSON.stringify(docs) })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.split('\n').filter(Boolean)
}

test('every object validates against the Kubernetes schemas (kubernetes-models) and has only real fields (python3-kubernetes)', () => {
  assert.deepEqual(
    objs.map((o) => o.kind),
    ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ServiceAccount', 'ConfigMap', 'DaemonSet'],
  )
  for (const o of objs) assert.doesNotThrow(() => new MODELS[o.kind](o).validate(), `${o.kind} ${o.metadata.name}`)
  assert.deepEqual(unknownFields(objs), [])
})

test('the judges can say no: a wrong type, a misspelt field', () => {
  const bad = load(text.replace('initialDelaySeconds: 10', 'initialDelaySeconds: ten'))
  assert.throws(() => new DaemonSet(bad.find((o) => o.kind === 'DaemonSet')).validate(), /initialDelaySeconds must be integer/)
  const typo = load(text.replace('hostNetwork: true', 'hostNetwrok: true'))
  assert.deepEqual(unknownFields(typo), ['DaemonSet.spec.template.spec.hostNetwrok: not a field of V1PodSpec'])
})

test("kube-flannel's shape: privileged namespace, flannel's RBAC exactly, hostNetwork, node-critical, tolerations, capabilities, probes, mounts", () => {
  assert.equal(get('Namespace').metadata.labels!['pod-security.kubernetes.io/enforce'], 'privileged')
  assert.deepEqual(get('ClusterRole').rules, [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  ])
  assert.deepEqual(get('ClusterRoleBinding').subjects, [{ kind: 'ServiceAccount', name: 'flannel', namespace: 'kube-flannel' }])
  const pod = get('DaemonSet').spec.template.spec
  assert.equal(pod.hostNetwork, true)
  assert.equal(pod.priorityClassName, 'system-node-critical')
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists', effect: 'NoSchedule' }])
  assert.equal(pod.serviceAccountName, 'flannel')
  const c = pod.containers[0]
  assert.deepEqual(c.securityContext, { privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } })
  assert.deepEqual(
    c.env.slice(0, 2).map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]),
    [
      ['POD_NAME', 'metadata.name'],
      ['POD_NAMESPACE', 'metadata.namespace'],
    ],
  )
  assert.deepEqual([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path], ['/healthz', '/readyz'])
  assert.deepEqual(
    c.volumeMounts.map((m: any) => m.mountPath),
    ['/run/flannel', '/etc/kube-flannel/', '/run/xtables.lock'],
  )
  assert.deepEqual(pod.volumes.find((v: any) => v.name === 'xtables-lock').hostPath, { path: '/run/xtables.lock', type: 'FileOrCreate' })
  assert.deepEqual(
    pod.initContainers.map((i: any) => i.name),
    ['install-cni-plugin', 'install-cni'],
  )
})

test("weft's own parsers accept what the manifest hands them: flanneld's flags, net-conf.json, cni-conf.json, the init containers' weft-install flags", () => {
  const pod = get('DaemonSet').spec.template.spec
  const c = pod.containers[0]
  assert.deepEqual(c.command, ['/opt/bin/flanneld'])
  const f = parseFlanneldArgs(c.args, {})
  assert.equal(flanneldValueError(f), undefined)
  assert.equal(f['ip-masq'], true)
  assert.equal(f['kube-subnet-mgr'], true)
  assert.equal(f['healthz-port'], c.livenessProbe.httpGet.port)
  const cm = get('ConfigMap').data
  assert.equal(parseNetworkConfig(cm['net-conf.json']).backend.type, 'vxlan')
  assert.deepEqual(JSON.parse(cm['cni-conf.json']), JSON.parse(CONFLIST), "the ConfigMap's conflist is weft-install's default")
  // each init container's weft-install, for real, into a scratch root with the ConfigMap mounted
  const scratch = mkdtempSync(join(tmpdir(), 'weft-kube-'))
  try {
    writeFileSync(join(scratch, 'cni-conf.json'), cm['cni-conf.json'])
    for (const p of ['bridge', 'host-local', 'portmap']) sh(['mkdir', '-p', join(scratch, 'opt/cni/bin')]), sh(['ln', '-s', `/usr/lib/cni/${p}`, join(scratch, 'opt/cni/bin', p)])
    for (const init of pod.initContainers) {
      assert.deepEqual(init.command, ['/opt/bin/weft-install'])
      const args = init.args.map((a: string) => a.replace('/etc/kube-flannel/cni-conf.json', join(scratch, 'cni-conf.json')))
      const r = sh([process.execPath, dist('weft-install'), '--root', scratch, ...args])
      assert.equal(r.code, 0, `${init.name}: ${r.stderr}`)
    }
    assert.equal(readFileSync(join(scratch, 'etc/cni/net.d/10-flannel.conflist'), 'utf8'), cm['cni-conf.json'])
    assert.deepEqual(readFileSync(join(scratch, 'opt/cni/bin/flannel')), readFileSync(dist('flannel')))
    assert.equal(sh(['test', '-e', join(scratch, 'opt/bin/flanneld')]).code, 1, '--no-daemon: no daemon bundles on the host')
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
})
