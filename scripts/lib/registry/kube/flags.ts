// flanneld's Kubernetes flags, shared by every part that talks to the registry (names, defaults
// and FLANNELD_* variables are flanneld's), and the KubeRegistry they describe. Everything is read
// and checked before anything is written: a bad kubeconfig or net-conf is a UsageError.
import { readFileSync } from 'node:fs'
import { UsageError, renderFlags, type FlagSpec } from '../../core/flags.ts'
import { parseNetworkConfig } from '../../formats/net-conf.ts'
import { checkUsable } from '../../formats/net-conf-usable.ts'
import { log, errText } from '../../core/log.ts'
import { loadTarget, ConfigError } from './credentials.ts'
import { KubeClient, KubeStatusError } from './client.ts'
import { KubeRegistry } from './registry.ts'
import { annotationPrefix, DEFAULT_PREFIX } from './node.ts'

export const KUBE_FLAGS = {
  'kube-subnet-mgr': { type: 'bool', help: "contact the Kubernetes API for subnet assignment instead of etcd (the Node's podCIDR)" },
  'kube-api-url': { type: 'string', help: "Kubernetes API server URL (overrides the kubeconfig's server; default: in-cluster)", arg: 'url' },
  'kubeconfig-file': { type: 'string', help: 'kubeconfig file location (default: in-cluster credentials)', arg: 'file' },
  'kube-annotation-prefix': { type: 'string', default: DEFAULT_PREFIX, help: 'Kubernetes annotation prefix of the Node annotations', arg: 'prefix' },
  'net-config-path': { type: 'string', default: '/etc/kube-flannel/net-conf.json', help: 'path to the network configuration file (kube subnet manager)', arg: 'path' },
  'set-node-network-unavailable': { type: 'bool', default: true, help: "set the Node's NetworkUnavailable condition to False once subnet.env is written" },
} as const satisfies FlagSpec

export interface KubeFlagValues {
  'kube-subnet-mgr': boolean
  'kube-api-url': string
  'kubeconfig-file': string
  'kube-annotation-prefix': string
  'net-config-path': string
  'set-node-network-unavailable': boolean
}

/** The same flags, for a child part. */
export function kubeArgs(f: KubeFlagValues): string[] {
  if (!f['kube-subnet-mgr']) return []
  return renderFlags(KUBE_FLAGS, {
    'kube-subnet-mgr': true,
    'kube-annotation-prefix': f['kube-annotation-prefix'],
    'net-config-path': f['net-config-path'],
    'set-node-network-unavailable': f['set-node-network-unavailable'],
    'kubeconfig-file': f['kubeconfig-file'] || undefined,
    'kube-api-url': f['kube-api-url'] || undefined,
  })
}

/** Read and check net-conf.json and the credentials; no request made yet. */
export function kubeSetup(f: KubeFlagValues, env: NodeJS.ProcessEnv = process.env) {
  let text: string
  try {
    text = readFileSync(f['net-config-path'], 'utf8')
  } catch (e) {
    throw new UsageError(`failed to read net conf ${f['net-config-path']}: ${errText(e)}`)
  }
  let netConf
  try {
    // A file read once at start (as flannel does): a config weft cannot run is refused before
    // anything is written, as etcd mode waits on it (formats/net-conf-usable.ts).
    netConf = checkUsable(parseNetworkConfig(text))
  } catch (e) {
    throw new UsageError(`net conf ${f['net-config-path']}: ${errText(e)}`)
  }
  let target
  try {
    target = loadTarget({ kubeconfig: f['kubeconfig-file'] || undefined, apiUrl: f['kube-api-url'] || undefined, env })
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message)
    throw e
  }
  if (!env.NODE_NAME && !(env.POD_NAME && env.POD_NAMESPACE)) throw new UsageError('env variables POD_NAME and POD_NAMESPACE must be set (or NODE_NAME)')
  eventQueueDepth(env)
  const prefix = f['kube-annotation-prefix']
  if (!/^[a-z0-9.-]+\/?$/i.test(prefix)) throw new UsageError(`--kube-annotation-prefix ${JSON.stringify(prefix)}: not a DNS subdomain`)
  // flannel does not check SubnetLen in kube mode: a Node's podCIDR has the controller-manager's
  // --node-cidr-mask-size. Unless net-conf says otherwise, peers must have the size ours has.
  const lenFromNode = { v4: !/"subnetlen"\s*:/i.test(text), v6: !/"ipv6subnetlen"\s*:/i.test(text) }
  return { netConf, target, prefix: annotationPrefix(prefix), lenFromNode }
}

/**
 * EVENT_QUEUE_DEPTH, read and checked as flannel reads it (strconv.Atoi; not a number: an error;
 * <= 0: the default 5000). flannel sizes the channel between its Node informer and its backend
 * with it. weft has no such queue to size: a watch event updates the cache at once and the route
 * syncer coalesces every change into its next sync, so what waits is bounded by the number of Nodes,
 * never by the event rate, and the watch is never held back. See docs/kube-mode.md.
 */
export function eventQueueDepth(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.EVENT_QUEUE_DEPTH
  if (v === undefined || v === '') return 5000
  if (!/^[+-]?\d+$/.test(v)) throw new UsageError(`env EVENT_QUEUE_DEPTH=${v} format error: not an integer`)
  const n = Number(v)
  return n > 0 ? n : 5000
}

/** NODE_NAME, else the node of our pod (POD_NAMESPACE/POD_NAME), as flannel finds it. */
export async function nodeName(client: KubeClient, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.NODE_NAME) return env.NODE_NAME
  const path = `/api/v1/namespaces/${encodeURIComponent(env.POD_NAMESPACE!)}/pods/${encodeURIComponent(env.POD_NAME!)}`
  let pod
  try {
    pod = await client.call(`reading pod ${env.POD_NAMESPACE}/${env.POD_NAME}`, 'GET', path)
  } catch (e) {
    if (e instanceof KubeStatusError) throw new Error(`error retrieving pod spec for '${env.POD_NAMESPACE}/${env.POD_NAME}': ${e.message}`)
    throw e
  }
  const n = pod?.spec?.nodeName
  if (typeof n !== 'string' || !n) throw new Error(`node name not present in pod spec '${env.POD_NAMESPACE}/${env.POD_NAME}'`)
  log(`Node name ${n} (from pod ${env.POD_NAMESPACE}/${env.POD_NAME})`)
  return n
}

export async function kubeRegistryFromFlags(f: KubeFlagValues, o: { dryRun?: boolean } = {}): Promise<KubeRegistry> {
  const s = kubeSetup(f)
  const client = new KubeClient(s.target)
  log(`Kubernetes API ${s.target.server.origin}, credentials from ${s.target.source}`)
  return new KubeRegistry(client, {
    nodeName: await nodeName(client),
    prefix: s.prefix,
    netConf: s.netConf,
    lenFromNode: s.lenFromNode,
    setNetworkUnavailable: f['set-node-network-unavailable'],
    dryRun: o.dryRun,
    informer: informerEnv(),
  })
}

/** Test knobs for the informer, from the environment (WEFT_KUBE_WATCH_SECONDS). */
function informerEnv() {
  const w = Number(process.env.WEFT_KUBE_WATCH_SECONDS)
  return Number.isInteger(w) && w > 0 ? { watchSeconds: () => w } : {}
}
