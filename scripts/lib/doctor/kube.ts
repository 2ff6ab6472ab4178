// The doctor's desired state in Kubernetes mode (flanneld --kube-subnet-mgr), read with the kube
// registry's own code: the same flags and credentials (kubeSetup), client, node name, podCIDR
// rules (nodeSubnets), peers (KubePeers: every Node flannel manages, as lease records for the
// same route planning as etcd leases) and the annotations the subnet writer publishes
// (annotationPatch: what it would write now is what is wrong on our Node).
// Checks here: the registry (API reachable, our Node, its podCIDR), subnet.env against the
// podCIDR(s), our Node's annotations (both families in dual stack) and NetworkUnavailable condition.
import { kubeSetup, nodeName, type KubeFlagValues } from '../registry/kube/flags.ts'
import { KubeClient, KubeStatusError } from '../registry/kube/client.ts'
import { KubePeers } from '../registry/kube/peers.ts'
import { ann, annotationPatch, conditionPatch, configForNode, nodeRecord, nodeSubnets } from '../registry/kube/node.ts'
import type { KubeNode } from '../registry/kube/informer.ts'
import type { OurLease } from '../registry/registry.ts'
import { parseLease } from '../formats/lease.ts'
import type { VxlanBackend } from '../formats/backend.ts'
import { parseIp, sameCidr } from '../net/cidr.ts'
import { readLink } from '../subnet/vxlan-device.ts'
import { vxlanDev } from '../routes/vxlan/sync.ts'
import { errText } from '../core/log.ts'
import { ok, fail, warn, skip, type Verdict } from './report.ts'
import { within, type Desired } from './desired.ts'

const RESTART = 'systemctl restart flanneld (or delete the flannel pod on this node)'

export type KubeSetup = ReturnType<typeof kubeSetup> & { client: KubeClient }

/** Flags, net-conf.json and credentials, checked before any request (a UsageError when bad). */
export function kubeDoctorSetup(f: KubeFlagValues): KubeSetup {
  const s = kubeSetup(f)
  return { ...s, client: new KubeClient(s.target) }
}

/** What is in Desired.kube: our Node as the API has it now, its podCIDR(s), the annotation prefix. */
export interface KubeState {
  name: string
  node: KubeNode
  lease?: OurLease
  prefix: string
}

/** The API reachable, our Node, the Nodes flannel manages (peers), the network config. */
export async function readKubeRegistry(k: KubeSetup, d: Desired): Promise<Verdict> {
  const t0 = Date.now()
  const server = k.target.server.origin
  let name = process.env.NODE_NAME ?? ''
  let node: KubeNode
  try {
    name = await within(nodeName(k.client), 5000, `the API server ${server}`)
    node = await within(k.client.do<KubeNode>('GET', `/api/v1/nodes/${encodeURIComponent(name)}`), 5000, `the API server ${server}`)
  } catch (e) {
    if (e instanceof KubeStatusError && e.code === 404)
      return fail('registry', `Node ${JSON.stringify(name)} does not exist at ${server}`, 'kubectl get nodes (NODE_NAME must be the name of this Node)')
    return apiFailure(k, e, name)
  }
  const cfg = configForNode(k.netConf, k.lenFromNode, node)
  d.cfg = cfg
  d.kube = { name, node, prefix: k.prefix }
  const peers = new KubePeers(k.client, name, k.prefix)
  try {
    await within(peers.relist(), 5000, `listing Nodes at ${server}`)
  } catch (e) {
    return apiFailure(k, e, name)
  }
  d.leases = peers.leases
  let s
  try {
    s = nodeSubnets(node, cfg)
  } catch (e) {
    return fail('registry', errText(e), `kubectl get node ${name} -o jsonpath='{.spec.podCIDRs}' (the podCIDR must lie inside net-conf.json's Network)`)
  }
  if ('wait' in s) return fail('registry', `${s.wait}: weft-subnet waits for it`, "the controller-manager's --allocate-node-cidrs assigns it (kubectl describe node)")
  d.kube.lease = s.lease
  const rec = nodeRecord(node, k.prefix)
  try {
    if (rec) d.own = parseLease(rec.prefix!, rec)
  } catch {} // the annotations check names what is wrong with them
  const subnets = [s.lease.subnet, s.lease.ipv6Subnet].filter(Boolean).map((c) => c!.text)
  const c = d.cfg
  return ok(
    'registry',
    `Kubernetes API ${server} answered in ${Date.now() - t0} ms (${k.target.source}); Node ${name} podCIDR ${subnets.join(', ')}; Network ${c.network?.text ?? '-'}${c.ipv6Network ? ` + ${c.ipv6Network.text}` : ''}, backend ${c.backend.type}; ${peers.leases.size} flannel peer Node(s)`,
  )
}

/** 401, 403, an untrusted certificate, or unreachable: named, with what to look at. */
function apiFailure(k: KubeSetup, e: unknown, name: string): Verdict {
  const msg = errText(e)
  const src = k.target.source
  const fix = /\b401\b/.test(msg)
    ? `give a valid token or client certificate (${src}); kubectl --kubeconfig=<file> auth whoami`
    : /\b403\b/.test(msg)
      ? 'kubectl apply -f kube-flannel.yml (its ClusterRole grants pods get, nodes get/list/watch, nodes/status patch)'
      : /certificate/.test(msg)
        ? `check the CA (certificate-authority) of ${src} against the API server's certificate`
        : `kubectl get node ${name || '<name>'} (is the API server up and reachable from this node?)`
  return fail('registry', msg, fix)
}

/** subnet.env against net-conf.json and our Node's podCIDR(s). */
export function checkSubnetEnvKube(path: string, d: Desired): Verdict {
  const env = d.env!
  if (!env.subnet) return fail('subnet.env', `${path} has no FLANNEL_SUBNET`, `rm ${path} && ${RESTART}`)
  const lease = d.kube?.lease
  if (!d.cfg || !lease) return warn('subnet.env', `${path}: subnet ${env.subnet.text}; not compared with our Node (see registry)`)
  const problems: string[] = []
  if (d.cfg.network && env.networks[0]?.text !== d.cfg.network.text)
    problems.push(`FLANNEL_NETWORK ${env.networks[0]?.text ?? '(none)'} but net-conf.json says ${d.cfg.network.text}`)
  if (d.cfg.enableIPv6 && d.cfg.ipv6Network && env.ipv6Networks[0]?.text !== d.cfg.ipv6Network.text)
    problems.push(`FLANNEL_IPV6_NETWORK ${env.ipv6Networks[0]?.text ?? '(none)'} but net-conf.json says ${d.cfg.ipv6Network.text}`)
  if (!sameCidr(lease.subnet, env.subnet)) problems.push(`FLANNEL_SUBNET ${env.subnet.text} is not Node ${d.kube!.name}'s podCIDR ${lease.subnet.text}`)
  if (lease.ipv6Subnet && !(env.ipv6Subnet && sameCidr(lease.ipv6Subnet, env.ipv6Subnet)))
    problems.push(`FLANNEL_IPV6_SUBNET ${env.ipv6Subnet?.text ?? '(none)'} is not Node ${d.kube!.name}'s IPv6 podCIDR ${lease.ipv6Subnet.text}`)
  if (problems.length) return fail('subnet.env', `${path}: ${problems.join('; ')}`, `${RESTART} (weft-subnet rewrites ${path} from the podCIDR)`)
  return ok('subnet.env', `${path}: network ${env.networks[0]?.text}, subnet ${env.subnet.text}${env.ipv6Subnet ? ` + ${env.ipv6Subnet.text}` : ''}, our Node's podCIDR`)
}

/**
 * Our Node's annotations against what the subnet writer would publish from this node now (its
 * own annotationPatch: a key it would write is a key that is wrong), and NetworkUnavailable. With
 * EnableIPv6 a second row, 'annotations v6': public-ipv6 and backend-v6-data (flannel-v6.<VNI>'s
 * MAC for vxlan, null for host-gw), from the same annotationPatch call.
 */
export async function checkAnnotations(d: Desired, publicIp: string, publicIpv6: string, setNetworkUnavailable: boolean): Promise<Verdict[]> {
  const k = d.kube
  const dual = !!d.cfg?.enableIPv6
  const both = (v: Verdict): Verdict[] => (dual ? [v, { ...v, check: 'annotations v6' }] : [v])
  if (!k || !d.cfg) return both(skip('annotations', 'needs our Node (see registry)'))
  let ip
  try {
    ip = parseIp(publicIp, 4)
  } catch {
    return both(skip('annotations', `no IPv4 public address to compare (${JSON.stringify(publicIp)})`))
  }
  const cfg = d.cfg
  const a = ann(k.prefix)
  const bad6: string[] = []
  let ip6
  if (dual) {
    try {
      ip6 = parseIp(publicIpv6, 6)
    } catch {
      bad6.push(`no IPv6 public address to compare ${a.ip6} with (${JSON.stringify(publicIpv6)}); weft-subnet needs one with EnableIPv6`)
    }
  }
  let backendData: Record<string, unknown> | null = null
  let backendV6Data: Record<string, unknown> | null = null
  const unknown: string[] = [] // keys whose value we cannot know (no device: the vxlan check says so)
  if (cfg.backend.type === 'vxlan') {
    const { dev, dev6, vni } = vxlanDev(cfg.backend as VxlanBackend)
    // As weft-subnet builds them: a device's MAC is its VtepMAC.
    const link = await readLink(dev)
    if (link?.mac) backendData = { VNI: vni, VtepMAC: link.mac }
    else unknown.push(a.data)
    if (ip6) {
      const link6 = await readLink(dev6)
      if (link6?.mac) backendV6Data = { VNI: vni, VtepMAC: link6.mac }
      else unknown.push(a.data6), bad6.push(`${dev6} does not exist, so ${a.data6} cannot be compared (weft-subnet creates it with EnableIPv6)`)
    }
  }
  const have = k.node.metadata.annotations ?? {}
  const attrs = { publicIp: ip, publicIpv6: ip6, backendType: cfg.backend.type, backendData, backendV6Data }
  const want = annotationPatch(have, attrs, k.prefix, () => {}) ?? {}
  for (const key of unknown) delete want[key]
  const bad: string[] = []
  for (const [key, v] of Object.entries(want))
    (key === a.data6 || key === a.ip6 ? bad6 : bad).push(`${key} is ${key in have ? JSON.stringify(have[key]) : 'missing'}, want ${JSON.stringify(v)}`)
  if (setNetworkUnavailable && conditionPatch(k.node, new Date())) {
    const c = (k.node.status?.conditions ?? []).find((x: { type?: string }) => x?.type === 'NetworkUnavailable')
    bad.push(`condition NetworkUnavailable is ${c ? `${c.status} (${c.reason ?? 'no reason'})` : 'not set'}, want False (FlannelIsUp)`)
  }
  const fix = `${RESTART}: weft-subnet publishes them again`
  const shown = (keys: string[]) => keys.map((key) => `${key.slice(k.prefix.length)} ${have[key]}`).join(', ')
  const out = [
    bad.length
      ? fail('annotations', `Node ${k.name}: ${bad.join('; ')}`, fix)
      : ok(
          'annotations',
          `Node ${k.name}: ${shown([a.type, a.data, a.ip])}, as this node publishes them${setNetworkUnavailable ? '; NetworkUnavailable False (FlannelIsUp)' : ''}`,
        ),
  ]
  if (dual) {
    const fix6 = ip6 ? fix : 'give flanneld --public-ipv6 (and the doctor the same), or a global IPv6 address on the interface'
    out.push(
      bad6.length
        ? fail('annotations v6', `Node ${k.name}: ${bad6.join('; ')}`, fix6)
        : ok('annotations v6', `Node ${k.name}: ${shown([a.data6, a.ip6])}, as this node publishes them`),
    )
  }
  return out
}

/** The public IP flanneld uses: --public-ip(v6), else our Node's node-public-ip(v6) annotation (as flanneld). */
export function annotatedPublicIp(d: Desired, family: 4 | 6 = 4): string {
  const k = d.kube
  const v = k?.node.metadata.annotations?.[family === 4 ? ann(k.prefix).nodeIp : ann(k.prefix).nodeIp6]
  if (!v) return ''
  try {
    return parseIp(v, family).text
  } catch {
    return ''
  }
}
