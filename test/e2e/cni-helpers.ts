// Running dist/flannel as a container runtime would, always inside a throwaway "node" netns
// (bridge creates cni0 and sets sysctls in the netns the plugin runs in), with every path
// (subnetFile, dataDir, host-local's store) under a Scope temp dir.
import { spawn } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { dist, sh, type Scope } from '../helpers/scope.ts'

export const SUBNET_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'

export interface Node {
  ns: string
  dir: string
  subnetFile: string
  dataDir: string
  ipamDir: string
}

export function makeNode(scope: Scope, subnetEnv: string | null = SUBNET_ENV): Node {
  const dir = scope.tmp('cni')
  const node = { ns: scope.ns('cn'), dir, subnetFile: join(dir, 'subnet.env'), dataDir: join(dir, 'data'), ipamDir: join(dir, 'ipam') }
  if (subnetEnv !== null) writeFileSync(node.subnetFile, subnetEnv)
  return node
}

export function conf(node: Node, cniVersion: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion,
    name: 'cbr0',
    type: 'flannel',
    subnetFile: node.subnetFile,
    dataDir: node.dataDir,
    delegate: { isDefaultGateway: true },
    ipam: { dataDir: node.ipamDir },
    ...extra,
  }
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

export interface CniEnv {
  CNI_COMMAND?: string
  CNI_CONTAINERID?: string
  CNI_NETNS?: string
  CNI_IFNAME?: string
  CNI_PATH?: string
  [k: string]: string | undefined
}

function envFor(e: CniEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH }
  for (const [k, v] of Object.entries(e)) if (v !== undefined) env[k] = v
  return env
}

/** The plugin, synchronously, in the node netns. */
export function plugin(node: Node, e: CniEnv, stdin: string | object): Run {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin)
  return sh(['ip', 'netns', 'exec', node.ns, dist('flannel')], { input, env: envFor(e) })
}

/** The same, as a promise (for parallel runs). */
export function pluginAsync(node: Node, e: CniEnv, stdin: string | object): Promise<Run> {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin)
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', node.ns, dist('flannel')], { env: envFor(e), stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (b) => (stdout += b))
    p.stderr.on('data', (b) => (stderr += b))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
    p.stdin.end(input)
  })
}

export function podEnv(command: string, id: string, pod: string): CniEnv {
  return { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' }
}

/** Every file under dir, with its size (a snapshot to prove nothing was written). */
export function tree(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    let names: string[]
    try {
      names = readdirSync(d)
    } catch {
      return
    }
    for (const n of names.sort()) {
      const p = join(d, n)
      const st = statSync(p)
      if (st.isDirectory()) {
        out.push(p + '/')
        walk(p)
      } else out.push(`${p} ${st.size}`)
    }
  }
  walk(dir)
  return out
}

export function links(ns: string): string[] {
  const r = sh(['ip', '-n', ns, '-j', 'link', 'show'])
  return (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).sort()
}

export function addrs(ns: string, dev: string): string[] {
  const r = sh(['ip', '-n', ns, '-j', 'addr', 'show', 'dev', dev])
  if (r.code !== 0) return []
  const j = JSON.parse(r.stdout || '[]') as { addr_info: { family: string; local: string; prefixlen: number }[] }[]
  return j.flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`))
}

export function routes(ns: string): string[] {
  const r = sh(['ip', '-n', ns, '-j', 'route', 'show'])
  return (JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string }[]).map((x) => (x.gateway ? `${x.dst} via ${x.gateway}` : x.dst)).sort()
}

/** host-local's per-IP files (names that are addresses) in the network's store. */
export function ipFiles(node: Node, net = 'cbr0'): string[] {
  try {
    return readdirSync(join(node.ipamDir, net))
      .filter((n) => /^[0-9a-f.:]+$/.test(n) && n.includes('.'))
      .sort()
  } catch {
    return []
  }
}
