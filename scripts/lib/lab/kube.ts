// `weft-lab --kube`: the lab's registry is the Kubernetes API test double (test/helpers/
// kube-api-double.ts, served by weft-lab itself in the switch namespace) instead of etcd. Nodes
// get podCIDRs as a controller-manager with --allocate-node-cidrs would give them; flanneld runs
// with --kube-subnet-mgr and kube-flannel's RBAC (the flannel service account's token).
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { openSync, closeSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeCa, makeLeaf } from '../../../test/helpers/kube-pki.ts'

export const API_PORT = 6443

export class LabKube {
  private proc?: ChildProcess
  kubeconfig = ''
  netConf = ''
  /** the flannel service account's token (kube-flannel's RBAC) */
  flannelToken = ''
  private ids = 0
  private waiting = new Map<number, (m: { ok?: unknown; error?: string }) => void>()

  constructor(private readonly o: { dir: string; sw: string; ip: string; weftLab: string; netConf: Record<string, unknown> }) {}

  /** Certificates, the double in the switch namespace, the kubeconfig and net-conf.json. */
  async start(): Promise<ChildProcess> {
    const dir = join(this.o.dir, 'kube')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(dir, { recursive: true })
    const ca = makeCa(dir)
    const srv = makeLeaf(ca, 'apiserver', { ips: [this.o.ip] })
    const fd = openSync(join(dir, 'api-double.log'), 'a')
    const p = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.o.sw,
        process.execPath,
        this.o.weftLab,
        '--serve-kube-double',
        `--host=${this.o.ip}`,
        `--port=${API_PORT}`,
        `--cert=${srv.certFile}`,
        `--key=${srv.keyFile}`,
        `--ca=${ca.certFile}`,
      ],
      { stdio: ['pipe', 'pipe', fd] },
    )
    closeSync(fd)
    this.proc = p
    const lines = createInterface({ input: p.stdout! })
    const hello = await new Promise<{ url: string; flannel: string; admin: string }>((resolve, reject) => {
      p.once('exit', (c) => reject(new Error(`the API double exited (${c}); see ${join(dir, 'api-double.log')}`)))
      lines.once('line', (l) => resolve(JSON.parse(l)))
    })
    // Replies to call(); createNode's (id 0) are not waited for.
    lines.on('line', (l) => {
      const m = JSON.parse(l)
      this.waiting.get(m.id)?.(m)
      this.waiting.delete(m.id)
    })
    this.flannelToken = hello.flannel
    this.kubeconfig = join(dir, 'kubeconfig')
    writeFileSync(
      this.kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: ${hello.url}\n    certificate-authority: ${ca.certFile}\nusers:\n- name: flannel\n  user:\n    token: ${hello.flannel}\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: flannel\ncurrent-context: lab\n`,
    )
    this.netConf = join(dir, 'net-conf.json')
    writeFileSync(this.netConf, JSON.stringify(this.o.netConf) + '\n')
    return p
  }

  /** One command to the double (kube-double-serve.ts ops: getNode, updateNode, addToken...), its reply. */
  call<T = unknown>(op: string, ...args: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = ++this.ids
      this.waiting.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m.ok as T)))
      this.proc!.stdin!.write(JSON.stringify({ id, op, args }) + '\n')
    })
  }

  /** A Node with its podCIDR(s), as the controller-manager allocates them (podCIDR is the first). */
  node(name: string, podCIDRs: string[]): void {
    this.proc!.stdin!.write(JSON.stringify({ id: 0, op: 'createNode', args: [{ metadata: { name }, spec: { podCIDR: podCIDRs[0], podCIDRs } }] }) + '\n')
  }

  /** flanneld's argv prefix for a node: its name in the environment, the kube flags. */
  flanneld(nodeName: string, flanneldPath: string): string[] {
    return ['env', `NODE_NAME=${nodeName}`, process.execPath, flanneldPath, '--kube-subnet-mgr', `--kubeconfig-file=${this.kubeconfig}`, `--net-config-path=${this.netConf}`]
  }
}
