// Start the Kubernetes API test double (kube-api-double.ts) as a child process, on 127.0.0.1 with
// a free port or on an address inside a test namespace, and drive it over the child's stdin.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { type Scope, root } from './scope.ts'
import { makeCa, makeLeaf, type Ca } from './kube-pki.ts'

export interface KubeDouble {
  url: string
  ca: Ca
  dir: string
  adminToken: string
  flannelToken: string
  call<T = unknown>(op: string, ...args: unknown[]): Promise<T>
  /** a kubeconfig for this double; user given by token, token file or client cert */
  kubeconfig(o: { token?: string; tokenFile?: string; cert?: { certFile: string; keyFile: string }; caData?: boolean; insecure?: boolean; name?: string }): string
  node(name: string, podCIDR?: string, extra?: Record<string, any>): Promise<unknown>
}

export async function startKubeDouble(scope: Scope, o: { netns?: string; host?: string; bookmarkMs?: number } = {}): Promise<KubeDouble> {
  const dir = scope.tmp('kube')
  const host = o.host ?? '127.0.0.1'
  const ca = makeCa(dir)
  const srv = makeLeaf(ca, 'apiserver', { ips: [host] })
  const argv = [
    process.execPath,
    '--import',
    'tsx',
    join(root, 'test/helpers/kube-double-serve.ts'),
    `--host=${host}`,
    `--cert=${srv.certFile}`,
    `--key=${srv.keyFile}`,
    `--ca=${ca.certFile}`,
    `--bookmark-ms=${o.bookmarkMs ?? 5000}`,
  ]
  const p = scope.spawn(argv, { netns: o.netns, cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  p.stderr!.on('data', (d) => (stderr += d))
  const lines = createInterface({ input: p.stdout! })
  const waiting = new Map<number, (v: { ok?: unknown; error?: string }) => void>()
  const first = new Promise<{ url: string; admin: string; flannel: string }>((resolve, reject) => {
    p.once('exit', (c) => reject(new Error(`kube API double exited (${c}): ${stderr}`)))
    lines.once('line', (l) => resolve(JSON.parse(l)))
  })
  const hello = await first
  lines.on('line', (l) => {
    const m = JSON.parse(l)
    waiting.get(m.id)?.(m)
    waiting.delete(m.id)
  })
  let id = 0
  const call = <T>(op: string, ...args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      const n = ++id
      waiting.set(n, (m) => (m.error ? reject(new Error(m.error)) : resolve(m.ok as T)))
      p.stdin!.write(JSON.stringify({ id: n, op, args }) + '\n')
    })
  let kc = 0
  return {
    url: hello.url,
    ca,
    dir,
    adminToken: hello.admin,
    flannelToken: hello.flannel,
    call,
    kubeconfig(k) {
      const cluster = k.insecure
        ? '    insecure-skip-tls-verify: true'
        : k.caData
          ? `    certificate-authority-data: ${Buffer.from(ca.cert).toString('base64')}`
          : `    certificate-authority: ${ca.certFile}`
      const user = k.token
        ? `    token: ${k.token}`
        : k.tokenFile
          ? `    tokenFile: ${k.tokenFile}`
          : k.cert
            ? `    client-certificate: ${k.cert.certFile}\n    client-key: ${k.cert.keyFile}`
            : '    {}'
      const text = `apiVersion: v1
kind: Config
clusters:
- name: double
  cluster:
    server: ${hello.url}
${cluster}
users:
- name: u
  user:
${user}
contexts:
- name: c
  context:
    cluster: double
    user: u
current-context: c
`
      const file = join(dir, `${k.name ?? `kubeconfig-${++kc}`}.yaml`)
      writeFileSync(file, text)
      return file
    },
    node(name, podCIDR, extra = {}) {
      const spec = podCIDR ? { podCIDR, podCIDRs: podCIDR.split(',') } : {}
      return call('createNode', { metadata: { name, ...(extra.metadata ?? {}) }, spec: { ...spec, ...(extra.spec ?? {}) }, status: extra.status ?? {} })
    },
  }
}

export { makeCa, makeLeaf }
