// The Containerfile built the way an operator without a registry would: a Debian base from
// Debian's packages (mmdebstrap, then podman import), the image on it with podman build (the
// host's Node >= 20 copied in: Debian 12's nodejs is 18). Then kube-flannel.yml's DaemonSet pod,
// its containers run by hand under podman with the host network inside a lab node: the init
// containers fill the node's /opt/cni/bin and /etc/cni/net.d; flanneld, with the manifest's args
// (--kube-subnet-mgr), env (POD_NAME/POD_NAMESPACE), mounts (the ConfigMap's net-conf.json: vxlan)
// and in-cluster credentials, against the Kubernetes API test double in the lab's switch, writes
// subnet.env and answers the DaemonSet's probes, and pods on that node reach pods on a node
// running flanneld from dist/ in Kubernetes mode on the same double. The slow part (mmdebstrap, import, build) runs
// once, in `before`. The base tar comes from test/setup.sh --judges (mmdebstrap from the machine's
// apt mirror, ~5 min once, kept in /var/cache/weft) or WEFT_BASE_TAR; only without either does
// the test run mmdebstrap itself.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { Scope, root } from '../helpers/scope.ts'
import { waitFor } from '../helpers/wait.ts'
import { podman, runFlags, setUpPodman, tearDownPodman, tearDownPodmanSync, type Podman } from '../helpers/podman.ts'
import { imageContext } from '../../tools/image-context.ts'
import { startKubeDouble } from '../helpers/kube-double-client.ts'
import { startKubeFlanneld } from '../helpers/kube-lab.ts'
import { probe } from '../../scripts/lib/lab/probe.ts'

const dist = join(root, 'dist')
const scope = new Scope()
const lab = new Lab({ dist, id: `im${process.pid.toString(36)}` })
const IMAGE = 'localhost/weft:test'
const BASE = 'localhost/weft-base:test'
const BASE_CACHE = '/var/cache/weft/base-bookworm-minbase.tar'
let pm: Podman
let buildLog = ''

// the manifest as parsed YAML
const manifest: any[] = parseAllDocuments(readFileSync(join(root, 'deploy/kube-flannel.yml'), 'utf8'))
  .map((d) => d.toJS())
  .filter(Boolean)
const podSpec = manifest.find((o) => o.kind === 'DaemonSet').spec.template.spec
const configMap = manifest.find((o) => o.kind === 'ConfigMap').data

before(async () => {
  const dir = scope.tmp('weft-image')
  await lab.up()
  await lab.addNode()
  await lab.addNode()
  pm = await setUpPodman(join(dir, 'podman'), lab.nodes[0].ns, 'node1')
  scope.onClose(() => tearDownPodmanSync(pm))
  // WEFT_BASE_TAR: a base made before by the same mmdebstrap line (a re-run then skips its minutes)
  // test/setup.sh --judges builds it once into BASE_CACHE (a set-up step, like apt)
  const given = process.env.WEFT_BASE_TAR || (existsSync(BASE_CACHE) && statSync(BASE_CACHE).isFile() ? BASE_CACHE : '')
  const tar = given || join(dir, 'base.tar')
  if (!given) await run(['mmdebstrap', '--quiet', '--variant=minbase', '--include=iproute2,iptables,nftables', 'bookworm', tar], { timeoutMs: 15 * 60000 })
  await podman(pm, ['import', tar, BASE], { timeoutMs: 5 * 60000 })
  const ctx = imageContext(join(dir, 'context'), process.execPath, root)
  // --network host: node1's namespace; the base has every package, so RUN needs no network
  const b = await podman(pm, ['build', '--network', 'host', '--build-arg', `BASE=${BASE}`, '-t', IMAGE, ctx], { timeoutMs: 10 * 60000 })
  buildLog = b.stdout + b.stderr
})

after(async () => {
  if (pm) await tearDownPodman(pm)
  await lab.down()
  await scope.close()
})

/** One container of the pod, by hand: host network (the node's), its command and args, its volumes as bind mounts. */
async function runContainer(c: { command: string[]; args?: string[] }, mounts: Record<string, string>, extra: string[] = []): Promise<string> {
  const vols = Object.entries(mounts).flatMap(([ctr, host]) => ['-v', `${host}:${ctr}`])
  const r = await podman(pm, ['run', '--rm', ...runFlags(pm, 'host'), ...vols, ...extra, '--entrypoint', c.command[0], IMAGE, ...(c.args ?? [])])
  return r.stdout + r.stderr
}

test("the image runs on a base built from Debian's packages, with Node >= 20, iproute2, iptables and nft", async () => {
  assert.match(buildLog, /COMMIT localhost\/weft:test|Successfully tagged localhost\/weft:test/)
  const out = (await podman(pm, ['run', '--rm', ...runFlags(pm, 'none'), IMAGE, 'sh', '-c', 'node --version; ip -V; iptables --version; nft --version'])).stdout
  const [node, ip, ipt, nft] = out.trim().split('\n')
  assert.ok(Number(/^v(\d+)\./.exec(node)?.[1]) >= 20, node)
  assert.match(ip, /^ip utility/)
  assert.match(ipt, /^iptables v1\.8/)
  assert.match(nft, /^nftables v1/)
})

test("the DaemonSet's init containers fill the node's /opt/cni/bin and /etc/cni/net.d", async () => {
  const host = scope.tmp('weft-image-node')
  const cniBin = join(host, 'opt/cni/bin')
  const cniConf = join(host, 'etc/cni/net.d')
  const cfg = join(host, 'kube-flannel-cfg')
  for (const d of [cniBin, cniConf, cfg]) mkdirSync(d, { recursive: true })
  // the node has the reference plugins in /opt/cni/bin (the container sees only its mounts)
  for (const p of ['bridge', 'host-local', 'portmap']) copyFileSync(`/usr/lib/cni/${p}`, join(cniBin, p))
  for (const [k, v] of Object.entries(configMap)) writeFileSync(join(cfg, k), v as string)
  const volumes: Record<string, string> = { 'cni-plugin': cniBin, cni: cniConf, 'flannel-cfg': cfg }
  for (const init of podSpec.initContainers) {
    const mounts = Object.fromEntries(init.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, volumes[m.name]]))
    await runContainer(init, mounts)
  }
  assert.deepEqual(readFileSync(join(cniBin, 'flannel')), readFileSync(join(dist, 'flannel')))
  assert.equal(readFileSync(join(cniConf, '10-flannel.conflist'), 'utf8'), configMap['cni-conf.json'])
})

test("flanneld from the image as the DaemonSet's container, in Kubernetes mode on the API double: subnet.env, /healthz and /readyz 200; its pods reach pods on a node running dist/flanneld", async () => {
  const [n1, n2] = lab.nodes
  const c = podSpec.containers[0]
  assert.deepEqual(c.command, ['/opt/bin/flanneld'])
  assert.deepEqual(c.args, ['--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081'])
  // the API server: the double in the switch namespace; both Nodes with their podCIDR, the pod on node1
  const d = await startKubeDouble(scope, { netns: lab.sw, host: '192.168.77.1', bookmarkMs: 1000 })
  await d.node(n1.name, '10.244.1.0/24')
  await d.node(n2.name, '10.244.2.0/24')
  const pod = { name: 'kube-flannel-ds-im1', namespace: manifest.find((o) => o.kind === 'DaemonSet').metadata.namespace }
  await d.call('addPod', pod.namespace, pod.name, n1.name)
  // the container's env as the kubelet fills it: fieldRefs resolved, values as given, the service's address
  const fields: Record<string, string> = { 'metadata.name': pod.name, 'metadata.namespace': pod.namespace }
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? fields[e.valueFrom.fieldRef.fieldPath]]))
  Object.assign(env, { KUBERNETES_SERVICE_HOST: '192.168.77.1', KUBERNETES_SERVICE_PORT: new URL(d.url).port })
  // the service account's token and CA, mounted where the kubelet mounts them
  const sa = scope.tmp('weft-image-sa')
  writeFileSync(join(sa, 'token'), d.flannelToken)
  writeFileSync(join(sa, 'ca.crt'), d.ca.cert)
  // the manifest's volumes: /run/flannel is node1's directory (where lab.addPod's conflist reads
  // subnet.env), the ConfigMap's files as written, the xtables lock
  const cfg = scope.tmp('weft-image-cfg')
  for (const [k, v] of Object.entries(configMap)) writeFileSync(join(cfg, k), v as string)
  const xtables = join(n1.dir, 'xtables.lock')
  writeFileSync(xtables, '')
  const volumes: Record<string, string> = { run: n1.dir, 'flannel-cfg': cfg, 'xtables-lock': xtables }
  const mounts = c.volumeMounts.flatMap((m: { name: string; mountPath: string }) => ['-v', `${volumes[m.name]}:${m.mountPath}`])
  mounts.push('-v', `${sa}:/var/run/secrets/kubernetes.io/serviceaccount:ro`)
  const caps = c.securityContext.capabilities.add.flatMap((k: string) => ['--cap-add', k])
  const envFlags = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`])
  await podman(pm, ['run', '-d', '--name', 'kube-flannel', ...runFlags(pm, 'host'), ...caps, ...mounts, ...envFlags, '--entrypoint', c.command[0], IMAGE, ...c.args])
  const containerLog = async () => `\n--- container log ---\n${(await podman(pm, ['logs', 'kube-flannel'], { nothrow: true })).stderr}`
  assert.equal(n1.subnetFile, join(n1.dir, 'subnet.env'))
  // node2: dist/flanneld in Kubernetes mode on the same double and the same net-conf.json
  startKubeFlanneld(lab, n2, { kubeconfig: d.kubeconfig({ token: d.flannelToken, name: 'flannel' }), netConf: join(cfg, 'net-conf.json') })
  await waitFor("node1's subnet.env, written by flanneld in the container", () => existsSync(n1.subnetFile), 30000, 200).catch(async (e) => {
    throw new Error(`${(e as Error).message}${await containerLog()}`)
  })
  const net = JSON.parse(configMap['net-conf.json'])
  assert.equal(readFileSync(n1.subnetFile, 'utf8'), `FLANNEL_NETWORK=${net.Network}\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`)
  const logs = await podman(pm, ['logs', 'kube-flannel']).then((r) => r.stdout + r.stderr)
  assert.match(logs, new RegExp(`Node name ${n1.name} \\(from pod ${pod.namespace}/${pod.name}\\)`))
  assert.match(logs, /credentials from in-cluster/)
  const node1 = await d.call<any>('getNode', n1.name)
  assert.equal(node1.metadata.annotations['flannel.alpha.coreos.com/backend-type'], net.Backend.Type)
  assert.equal(node1.metadata.annotations['flannel.alpha.coreos.com/public-ip'], n1.ip)
  // the DaemonSet's probes, on the container's port inside node1's namespace (the host network)
  const port = (k: 'livenessProbe' | 'readinessProbe') => c[k].httpGet.port as number
  await waitFor(
    'the readiness probe to answer 200',
    async () => (await probe(n1.ns, c.readinessProbe.httpGet.path, { port: port('readinessProbe') })).status === 200,
    30000,
    200,
  ).catch(async (e) => {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(await probe(n1.ns, '/readyz?verbose', { port: 8081 }))}${await containerLog()}`)
  })
  const live = await probe(n1.ns, c.livenessProbe.httpGet.path, { port: port('livenessProbe') })
  assert.deepEqual(live, { status: 200, body: 'flanneld is running' })
  await lab.waitReady(n2)
  const [p1, p2] = [await lab.addPod(n1), await lab.addPod(n2)]
  await waitFor('pod on node1 to reach pod on node2', () => lab.ping(p1.ns, p2.ip), 30000, 200).catch(async (e) => {
    throw new Error(`${(e as Error).message}${await containerLog()}\n--- node2 log ---\n${lab.logOf(n2)}`)
  })
  await waitFor('pod on node2 to reach pod on node1', () => lab.ping(p2.ns, p1.ip), 30000, 200)
  const seen = await lab.sourcesSeen(p1, p2)
  assert.deepEqual(seen, { byPod: p1.ip, outside: n1.ip }, 'source kept between pods; masqueraded by the container-run weft-masq to the outside')
  await podman(pm, ['rm', '--force', '--time', '5', 'kube-flannel'])
})
