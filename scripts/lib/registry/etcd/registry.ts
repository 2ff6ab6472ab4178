// The registry seam on etcd: adapters over the modules flannel's etcd subnet manager was ported
// into (config-wait.ts, lease-acquire.ts, ../../subnet/renew.ts, peers.ts), behaviour unchanged.
import type { Cidr } from '../../net/cidr.ts'
import type { NetworkConfig } from '../../formats/net-conf.ts'
import { errText } from '../../core/log.ts'
import type { OurAttrs, OurLease, Registry } from '../registry.ts'
import { UnreachableError, type EtcdClient } from './client.ts'
import { waitForConfig } from './config-wait.ts'
import { acquireLease, type Acquired } from './lease-acquire.ts'
import { PeerRegistry } from './peers.ts'
import { keepLease } from '../../subnet/renew.ts'
import { DryRunRegistry } from '../../subnet/dry-run.ts'

export interface EtcdRegistryOpts {
  log: (m: string) => void
  /** leave "etcd unreachable" unsaid while waiting for the config (the caller's reads say it) */
  quietUnreachable?: boolean
  dryRun?: boolean
  /** the subnets of the old subnet.env (the v6 one asked only with EnableIPv6) */
  previous?: () => Cidr | undefined
  previousV6?: () => Cidr | undefined
  ttl?: number
  marginMs?: number
  checkMs?: number
  /** told each time the lease's expiry changes (flanneld's metrics) */
  onExpiry?: (expiresAt: number) => void
}

export class EtcdRegistry implements Registry {
  readonly kind = 'etcd'
  private acquired?: Acquired

  constructor(
    readonly client: EtcdClient,
    readonly prefix: string,
    private readonly o: EtcdRegistryOpts,
  ) {}

  config(signal?: AbortSignal): Promise<NetworkConfig | undefined> {
    return waitForConfig(this.client, this.prefix, signal, this.o.quietUnreachable ? { unreachable: false } : {})
  }

  async acquire(cfg: NetworkConfig, attrs: OurAttrs): Promise<OurLease> {
    const o = this.o
    this.acquired = await untilReachable(o.log, 'acquiring a lease', () =>
      acquireLease(o.dryRun ? new DryRunRegistry(this.client) : this.client, {
        prefix: this.prefix,
        cfg,
        attrs,
        previous: o.previous?.(),
        previousV6: cfg.enableIPv6 ? o.previousV6?.() : undefined,
        ttl: o.ttl!,
        log: o.log,
      }),
    )
    return this.acquired
  }

  keep(_lease: OurLease, signal: AbortSignal): Promise<'revoked' | 'stopped'> {
    const o = this.o
    return keepLease(this.client, this.acquired!, { ttl: o.ttl!, marginMs: o.marginMs!, signal, log: o.log, checkMs: o.checkMs, onExpiry: o.onExpiry })
  }

  peers(): PeerRegistry {
    return new PeerRegistry(this.client, this.prefix)
  }

  close(): void {
    this.client.close()
  }
}

/** Retry fn every second while etcd is unreachable; any other error is fatal (as in flannel). */
async function untilReachable<T>(log: (m: string) => void, what: string, fn: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await fn()
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e
      if (n % 30 === 0) log(`waiting for etcd while ${what}: ${errText(e)}; retrying every second`)
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}
