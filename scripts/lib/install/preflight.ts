// Read-only checks of the running host before install, each reported with what breaks and the
// fix; none changes anything. They read this process's view of /proc, i.e. its network namespace
// (weft-install --root still checks the host it runs on: the kernel is not under --root).
import { readFileSync, existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { which, parseVersion } from '../masq/iptables-flavour.ts'

export interface Check {
  ok: boolean
  text: string
}

export interface Probe {
  read: (path: string) => string | undefined
  exists: (path: string) => boolean
  iptablesVersion: () => string | undefined
}

export const realProbe: Probe = {
  read: (p) => {
    try {
      return readFileSync(p, 'utf8').trim()
    } catch {
      return undefined
    }
  },
  exists: existsSync,
  iptablesVersion: () => {
    const bin = which('iptables')
    if (!bin) return undefined
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    return r.status === 0 ? r.stdout.trim() : undefined
  },
}

export function preflight(probe: Probe = realProbe): Check[] {
  const checks: Check[] = []
  const fwd = probe.read('/proc/sys/net/ipv4/ip_forward')
  checks.push(
    fwd === '1'
      ? { ok: true, text: 'net.ipv4.ip_forward = 1' }
      : {
          ok: false,
          text: `net.ipv4.ip_forward = ${fwd ?? '?'}: this node will not forward pod traffic to other nodes; fix: sysctl -w net.ipv4.ip_forward=1 and put net.ipv4.ip_forward=1 in /etc/sysctl.d/99-weft.conf`,
        },
  )
  const loaded = probe.exists('/sys/module/br_netfilter')
  const nf = probe.read('/proc/sys/net/bridge/bridge-nf-call-iptables')
  if (!loaded && nf === undefined) {
    checks.push({
      ok: false,
      text: 'br_netfilter is not loaded: traffic between pods on one bridge skips iptables (kube-proxy Services, network policies); fix: modprobe br_netfilter and put br_netfilter in /etc/modules-load.d/br_netfilter.conf',
    })
  } else if (nf !== '1') {
    checks.push({
      ok: false,
      text: `net.bridge.bridge-nf-call-iptables = ${nf ?? '? (br_netfilter loaded, but not visible in this network namespace)'}: bridged pod traffic skips iptables; fix: sysctl -w net.bridge.bridge-nf-call-iptables=1 and put it in /etc/sysctl.d/99-weft.conf`,
    })
  } else checks.push({ ok: true, text: 'br_netfilter loaded, net.bridge.bridge-nf-call-iptables = 1' })
  const v = probe.iptablesVersion()
  const parsed = v ? parseVersion(v) : undefined
  if (!parsed)
    checks.push({
      ok: false,
      text: `iptables not found or not understood (${v ?? 'not on PATH'}): weft-masq needs iptables (nf_tables or legacy) or nft; fix: apt-get install -y iptables`,
    })
  else {
    checks.push({
      ok: parsed.modern,
      text: `${v}: the ${parsed.flavour === 'nft' ? 'nf_tables' : 'legacy'} flavour; weft-masq picks the flavour holding the rules kube-proxy and kubelet made${parsed.modern ? '' : '; older than 1.6.2: no --wait, no --random-fully'}`,
    })
  }
  return checks
}

export function showChecks(checks: Check[]): string {
  return checks.map((c) => `preflight: ${c.ok ? 'ok  ' : 'WARN'} ${c.text}\n`).join('')
}
