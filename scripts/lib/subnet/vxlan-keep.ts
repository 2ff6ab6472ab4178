// Keeping the vxlan devices while the subnet writer runs: flannel watches the link table and
// re-creates flannel.<VNI> when it is deleted (reference/flanneld.md §3.2). Here every
// `intervalMs` one `ip -d -j link show` per device; a device that is gone is made again with the
// same MAC (the one our lease publishes, so the peers' fdb entries stay right), its address and
// link up. The route syncer's next full sync (every --resync s) then programs the peers on it.
import type { Cidr } from '../net/cidr.ts'
import { configureDevice, ensureDevice, readLink, type VxlanSpec } from './vxlan-device.ts'
import { errText } from '../core/log.ts'
import { emit } from '../daemon/events.ts'

export interface KeptDevice {
  spec: VxlanSpec
  mac: string
  /** the lease's subnet of the device's family, and the network it lies in */
  lease: Cidr
  network: Cidr
}

/** Checks until signal aborts; the timer never keeps the process alive on its own. */
export function keepDevices(devs: readonly KeptDevice[], o: { intervalMs: number; signal: AbortSignal; log: (m: string) => void }): void {
  let busy = false
  let lastError = ''
  const timer = setInterval(async () => {
    if (busy || o.signal.aborted) return
    busy = true
    try {
      for (const d of devs) {
        if (await readLink(d.spec.name)) continue
        o.log(`${d.spec.name} has been deleted: creating it again (MAC ${d.mac}, as in our lease)`)
        emit({ event: 'repaired', kind: 'device', what: d.spec.name, why: 'the vxlan device was deleted' })
        await ensureDevice(d.spec, false, o.log, d.mac)
        await configureDevice(d.spec.name, d.lease, d.network, false)
      }
      lastError = ''
    } catch (e) {
      // Said once while it repeats (the external interface gone, say); tried again next time.
      if (errText(e) !== lastError) o.log(`could not re-create the vxlan device (retrying every ${o.intervalMs / 1000} s): ${errText(e)}`)
      lastError = errText(e)
    } finally {
      busy = false
    }
  }, o.intervalMs)
  timer.unref()
  o.signal.addEventListener('abort', () => clearInterval(timer), { once: true })
}
