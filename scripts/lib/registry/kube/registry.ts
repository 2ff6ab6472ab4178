// The registry seam on Kubernetes (flannel's kube subnet manager): the network config from
// net-conf.json, our subnet from our Node's podCIDR(s), our attributes published as annotations
// with a strategic-merge PATCH of nodes/<n>/status (the one write kube-flannel's RBAC allows),
// NetworkUnavailable=False once subnet.env is written, and peers from a Node informer.
import { log, errText } from '../../core/log.ts'
import type { NetworkConfig } from '../../formats/net-conf.ts'
import { PermanentError, type OurAttrs, type OurLease, type Registry } from '../registry.ts'
import { KubeStatusError, type KubeClient } from './client.ts'
import type { KubeNode, InformerOpts } from './informer.ts'
import { annotationPatch, conditionPatch, configForNode, nodeSubnets, ourVtepMacs } from './node.ts'
import { KubePeers } from './peers.ts'

const SMP = 'application/strategic-merge-patch+json'

export interface KubeRegistryOpts {
  nodeName: string
  /** annotation prefix, ending in '/' */
  prefix: string
  netConf: NetworkConfig
  /** take SubnetLen / IPv6SubnetLen from our Node's podCIDRs (net-conf does not set them) */
  lenFromNode?: { v4: boolean; v6: boolean }
  setNetworkUnavailable: boolean
  dryRun?: boolean
  informer?: InformerOpts
  /** how often to look at our Node again while it has no podCIDR */
  pollMs?: number
}

export class KubeRegistry implements Registry {
  readonly kind = 'kube'
  private node?: KubeNode

  constructor(
    readonly client: KubeClient,
    readonly o: KubeRegistryOpts,
  ) {}

  /** net-conf.json; the subnet sizes are our Node's podCIDR sizes unless net-conf sets them. */
  async config(signal?: AbortSignal): Promise<NetworkConfig | undefined> {
    const by = this.o.lenFromNode
    if (!by || (!by.v4 && !by.v6)) return { ...this.o.netConf }
    const node = await this.ourNode(signal)
    if (!node) return undefined
    return configForNode(this.o.netConf, by, node)
  }

  /** Our Node now (GET nodes/<name>), waiting while it does not exist yet. */
  async ourNode(signal?: AbortSignal): Promise<KubeNode | undefined> {
    let said = 0
    for (;;) {
      try {
        return (this.node = await this.client.call(`reading Node ${this.o.nodeName}`, 'GET', `/api/v1/nodes/${encodeURIComponent(this.o.nodeName)}`, { signal }))
      } catch (e) {
        if (!(e instanceof KubeStatusError && e.code === 404)) throw e
        if (Date.now() - said > 30_000) log(`Node ${JSON.stringify(this.o.nodeName)} does not exist (yet); waiting for it`)
        said ||= Date.now()
      }
      if (await stopped(this.o.pollMs ?? 1000, signal)) return undefined
    }
  }

  /** The VtepMAC(s) our Node's annotations hold, so a restart keeps the vxlan device's MAC. */
  async vtepMacs(signal?: AbortSignal): Promise<{ v4?: string; v6?: string }> {
    return ourVtepMacs(await this.ourNode(signal), this.o.prefix)
  }

  async acquire(cfg: NetworkConfig, attrs: OurAttrs, signal: AbortSignal): Promise<OurLease> {
    let lastWait = ''
    let saidAt = 0
    for (;;) {
      const node = await this.ourNode(signal)
      if (!node) throw new Error('stopped')
      let s
      try {
        s = nodeSubnets(node, cfg)
      } catch (e) {
        throw new PermanentError(errText(e))
      }
      if ('lease' in s) {
        await this.publish(node, attrs, signal)
        return s.lease
      }
      if (s.wait !== lastWait || Date.now() - saidAt > 30_000) {
        log(`${s.wait}; waiting for it (the controller-manager's --allocate-node-cidrs assigns it)`)
        lastWait = s.wait
        saidAt = Date.now()
      }
      if (await stopped(this.o.pollMs ?? 1000, signal)) throw new Error('stopped')
    }
  }

  private async publish(node: KubeNode, attrs: OurAttrs, signal: AbortSignal): Promise<void> {
    const changed = annotationPatch(node.metadata.annotations ?? {}, attrs, this.o.prefix, log)
    if (!changed) return log(`Node ${this.o.nodeName}: annotations already up to date`)
    await this.patchStatus({ metadata: { annotations: changed } }, 'publishing our annotations', signal)
    log(`Node ${this.o.nodeName}: annotations ${this.o.dryRun ? 'would be set (dry run)' : 'set'}: ${Object.keys(changed).join(', ')}`)
  }

  private async patchStatus(body: unknown, what: string, signal: AbortSignal): Promise<void> {
    const path = `/api/v1/nodes/${encodeURIComponent(this.o.nodeName)}/status`
    if (this.o.dryRun) return void process.stdout.write(`PATCH ${path} (Content-Type: ${SMP})\n${JSON.stringify(body)}\n`)
    await this.client.call(what, 'PATCH', path, { body, contentType: SMP, signal, retryConflict: true })
  }

  async keep(_lease: OurLease, signal: AbortSignal): Promise<'revoked' | 'stopped'> {
    if (this.o.setNetworkUnavailable) {
      const node = await this.ourNode(signal)
      const patch = node && conditionPatch(node, new Date())
      if (patch) {
        await this.patchStatus(patch, 'setting NetworkUnavailable=False', signal)
        log(`Node ${this.o.nodeName}: condition NetworkUnavailable=False (FlannelIsUp)`)
      } else if (node) log(`Node ${this.o.nodeName}: condition NetworkUnavailable already False (FlannelIsUp)`)
    }
    // Kubernetes has no lease to renew: the podCIDR is ours for the Node's life. A timer keeps
    // the process alive (a bare promise would let Node exit, and flanneld read that as an end).
    const alive = setInterval(() => {}, 1 << 30)
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })))
    clearInterval(alive)
    return 'stopped'
  }

  peers(): KubePeers {
    return new KubePeers(this.client, this.o.nodeName, this.o.prefix, this.o.informer)
  }

  close(): void {
    this.client.close()
  }
}

/** Wait ms; true when signal aborted meanwhile. */
function stopped(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(true)
    const t = setTimeout(() => (signal?.removeEventListener('abort', done), resolve(false)), ms)
    signal?.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      resolve(true)
    }
  })
}
