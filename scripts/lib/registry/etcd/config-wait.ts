// <prefix>/config, waited for as flannel waits for it: while etcd is unreachable, the key is
// missing or its value is bad (or one weft cannot run: net-conf-usable.ts), retry every second, saying why once per change of state and
// again every 30 s (not a line a second). Used by weft-subnet, weft-routes and flanneld.
import { UnreachableError, type EtcdClient } from './client.ts'
import { parseNetworkConfig, type NetworkConfig } from '../../formats/net-conf.ts'
import { checkUsable } from '../../formats/net-conf-usable.ts'
import { log, errText } from '../../core/log.ts'

/**
 * The parsed config; undefined only when signal aborts first. `unreachable: false` leaves etcd
 * being down unsaid, for a caller whose other reads already say it.
 */
export async function waitForConfig(etcd: EtcdClient, prefix: string, signal?: AbortSignal, o: { unreachable?: boolean } = {}): Promise<NetworkConfig | undefined> {
  const key = `${prefix.replace(/\/+$/, '')}/config`
  let last = ''
  let since = Date.now()
  for (;;) {
    if (signal?.aborted) return undefined
    let msg: string
    let down = false
    try {
      const kv = await etcd.get(key)
      // A config weft cannot run waits like a missing one: nothing is written before it works.
      if (kv) return checkUsable(parseNetworkConfig(kv.value))
      msg = `flannel config not found in etcd store (${key}). Did you create your config using etcdv3 API? Retrying every second.`
    } catch (e) {
      down = e instanceof UnreachableError
      msg = e instanceof UnreachableError ? `waiting for etcd: ${errText(e)}; retrying every second` : `Couldn't fetch network config: ${errText(e)}; retrying every second`
    }
    if (msg !== last || Date.now() - since > 30_000) {
      if (!down || o.unreachable !== false) log(msg)
      last = msg
      since = Date.now()
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, 1000)
      signal?.addEventListener('abort', done, { once: true })
      function done() {
        clearTimeout(t)
        signal?.removeEventListener('abort', done)
        resolve()
      }
    })
  }
}

/**
 * One read of the config, judged as the start-up wait judges it: usable, a problem (missing, bad,
 * or one weft cannot run: one line), or no answer (etcd out of reach or failing). The running parts re-check with it.
 */
export async function readConfigOnce(etcd: EtcdClient, prefix: string): Promise<{ cfg: NetworkConfig } | { problem: string } | { unreachable: string }> {
  const key = `${prefix.replace(/\/+$/, '')}/config`
  let value: string | undefined
  try {
    value = (await etcd.get(key))?.value
  } catch (e) {
    // A failed read (etcd away, no leader, a timeout) says nothing about the config itself.
    return { unreachable: errText(e) }
  }
  if (value === undefined) return { problem: `the network config ${key} is gone` }
  try {
    return { cfg: checkUsable(parseNetworkConfig(value)) }
  } catch (e) {
    return { problem: errText(e) }
  }
}
