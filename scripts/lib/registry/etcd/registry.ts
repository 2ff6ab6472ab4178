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
  private cfg?: NetworkConfig
  private attrs?: OurAttrs

  constructor(
    readonly client: EtcdClient,
    readonly prefix: string,
    private readonly o: EtcdRegistryOpts,
  ) {}

  config(signal?: AbortSignal): Promise<NetworkConfig | undefined> {
    return waitForConfig(this.client, this.prefix, signal, this.o.quietUnreachable ? { unreachable: false } : {})
  }

  async acquire(cfg: NetworkConfig, attrs: OurAttrs): Promise<OurLease> {
    this.cfg = cfg
    this.attrs = attrs
    this.acquired = await untilReachable(this.o.log, 'acquiring a lease', () => this.acquireOnce(this.o.previous?.(), cfg.enableIPv6 ? this.o.previousV6?.() : undefined))
    return this.acquired
  }

  private acquireOnce(previous: Cidr | undefined, previousV6: Cidr | undefined): Promise<Acquired> {
    const o = this.o
    return acquireLease(o.dryRun ? new DryRunRegistry(this.client) : this.client, {
      prefix: this.prefix,
      cfg: this.cfg!,
      attrs: this.attrs!,
      previous,
      previousV6,
      ttl: o.ttl!,
      log: o.log,
    })
  }

  /**
   * Renew until stopped or revoked. flannel exits 0 on any loss ("revoked"), and under
   * Restart=on-failure nothing comes back while pods keep the subnet. A loss with etcd's data
   * (its revision went back, or the config is gone too) is not an operator taking our lease:
   * the same subnet is registered again once the config is back (issue 13 item 9).
   */
  async keep(_lease: OurLease, signal: AbortSignal): Promise<'revoked' | 'stopped'> {
    const o = this.o
    const first = this.acquired!
    let held = first
    for (;;) {
      const why = await keepLease(this.client, held, { ttl: o.ttl!, marginMs: o.marginMs!, signal, log: o.log, checkMs: o.checkMs, onExpiry: o.onExpiry })
      if (why === 'stopped') return why
      const wiped = why === 'reset' || !(await untilReachable(o.log, 'checking the network config', () => this.client.get(`${this.prefix.replace(/\/+$/, '')}/config`)))
      if (!wiped) return 'revoked'
      o.log(
        `etcd lost our lease ${held.subnet.text} with the rest of its data (${why === 'reset' ? 'its history no longer holds our key: wiped or restored' : 'the network config is gone too'}); keeping the subnet file, registering the same subnet again once the network config is back`,
      )
      const again = await this.config(signal)
      if (!again) return 'stopped'
      const cfg = this.cfg!
      if (again.network?.text !== cfg.network?.text || again.backend.type !== cfg.backend.type)
        throw new Error(`the network config came back different (${again.network?.text} ${again.backend.type}); exiting so that it is applied from the start`)
      held = await untilReachable(o.log, 'registering our subnet again', () => this.acquireOnce(held.subnet, held.ipv6Subnet))
      if (held.subnet.text !== first.subnet.text)
        throw new Error(
          `our subnet ${first.subnet.text} was taken by another node while etcd was empty (we got ${held.subnet.text}); exiting so that the subnet file is rewritten from the start`,
        )
      this.acquired = held
      o.log(`registered ${held.subnet.text} again (${held.how})`)
    }
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
