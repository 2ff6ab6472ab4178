// The Containerfile built the way an operator without a registry would: a Debian base from
// Debian's packages (mmdebstrap, then podman import), the image on it with podman build (the
// host's Node >= 20 copied in: Debian 12's nodejs is 18). Then kube-flannel.yml's DaemonSet pod,
// its containers run by hand under podman with the host network inside a lab node: the init
// containers fill the node's /opt/cni/bin and /etc/cni/net.d, flanneld (etcd mode until the
// Kubernetes subnet manager is in the image's tests) writes subnet.env, and pods on that node
// reach pods on a node running flanneld from dist/. The slow part (mmdebstrap, import, build) runs
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

test('flanneld from the image, with the host network inside a lab node, writes subnet.env; its pods reach pods on a node running dist/flanneld', async () => {
  const [n1, n2] = lab.nodes
  const c = podSpec.containers[0]
  assert.deepEqual(c.command, ['/opt/bin/flanneld'])
  // the manifest's flags but etcd's registry: the image's Kubernetes mode is not exercised here
  const args = c.args.filter((a: string) => a !== '--kube-subnet-mgr').concat(`--etcd-endpoints=${lab.endpoint}`, '--iptables-resync=1')
  const caps = c.securityContext.capabilities.add.flatMap((k: string) => ['--cap-add', k])
  const xtables = join(n1.dir, 'xtables.lock')
  writeFileSync(xtables, '')
  // the manifest's mounts: /run/flannel (node1's directory, where lab.addPod's conflist reads subnet.env) and the xtables lock
  const mounts = ['-v', `${n1.dir}:/run/flannel`, '-v', `${xtables}:/run/xtables.lock`]
  await podman(pm, ['run', '-d', '--name', 'kube-flannel', ...runFlags(pm, 'host'), ...caps, ...mounts, '--entrypoint', c.command[0], IMAGE, ...args])
  assert.equal(n1.subnetFile, join(n1.dir, 'subnet.env'))
  lab.startFlanneld(n2)
  await waitFor("node1's subnet.env, written by flanneld in the container", () => existsSync(n1.subnetFile), 30000, 200).catch(async (e) => {
    throw new Error(`${(e as Error).message}\n--- container log ---\n${(await podman(pm, ['logs', 'kube-flannel'], { nothrow: true })).stderr}`)
  })
  await lab.waitReady(n2)
  const [p1, p2] = [await lab.addPod(n1), await lab.addPod(n2)]
  await waitFor('pod on node1 to reach pod on node2', () => lab.ping(p1.ns, p2.ip), 30000, 200)
  await waitFor('pod on node2 to reach pod on node1', () => lab.ping(p2.ns, p1.ip), 30000, 200)
  const seen = await lab.sourcesSeen(p1, p2)
  assert.deepEqual(seen, { byPod: p1.ip, outside: n1.ip }, 'source kept between pods; masqueraded by the container-run weft-masq to the outside')
  await podman(pm, ['rm', '--force', '--time', '5', 'kube-flannel'])
})
