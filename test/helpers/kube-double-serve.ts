// The Kubernetes API test double as a process: `node --import tsx test/helpers/kube-double-serve.ts`
// (or `weft-lab --serve-kube-double`) listens, prints its URL and tokens, then obeys commands.
import { createInterface } from 'node:readline'
import { randomBytes } from 'node:crypto'
import { KubeApiDouble, FLANNEL_USER } from './kube-api-double.ts'
import { strategicMerge, type Obj } from './kube-double-store.ts'

/**
 * Run as a process (this file under tsx, or `weft-lab --serve-kube-double`): listen, print one
 * JSON line (url, tokens), then obey JSON commands on stdin, one reply line each.
 */
export async function serveKubeDouble(argv: string[] = process.argv): Promise<void> {
  const arg = (n: string, d = '') => argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d
  const { readFileSync } = await import('node:fs')
  const d = new KubeApiDouble()
  d.bookmarkMs = Number(arg('bookmark-ms', '5000'))
  const admin = randomBytes(16).toString('hex')
  const flannel = randomBytes(16).toString('hex')
  d.tokens.set(admin, 'admin')
  d.tokens.set(flannel, FLANNEL_USER)
  const host = arg('host', '127.0.0.1')
  const port = await d.listen(host, Number(arg('port', '0')), readFileSync(arg('cert'), 'utf8'), readFileSync(arg('key'), 'utf8'), readFileSync(arg('ca'), 'utf8'))
  process.stdout.write(JSON.stringify({ url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, admin, flannel }) + '\n')
  const ops: Record<string, (...a: any[]) => unknown> = {
    createNode: (n: Obj) => d.store.createNode(n),
    updateNode: (name: string, patch: Obj) => d.store.updateNode(name, (n) => strategicMerge(n, patch) as Obj),
    deleteNode: (name: string) => d.store.deleteNode(name),
    getNode: (name: string) => d.store.nodes.get(name) ?? null,
    addPod: (ns: string, name: string, node: string) => d.store.addPod(ns, name, node),
    addToken: (token: string, user: string) => d.tokens.set(token, user) && true,
    removeToken: (token: string) => d.tokens.delete(token),
    compact: () => d.compact(),
    dropWatches: () => d.dropWatches(),
    hold: (on: boolean) => d.hold(on),
    fail: (n: number, code: number, retryAfter: number) => d.fail(n, code, retryAfter),
    requests: () => d.requests.splice(0),
    injectFault: (f: { code: number; times?: number; match?: string; retryAfter?: number }) => d.injectFault(f),
    timeline: () => d.timeline.splice(0),
    rv: () => d.store.rv,
  }
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      const { id, op, args } = JSON.parse(line)
      try {
        process.stdout.write(JSON.stringify({ id, ok: ops[op](...(args ?? [])) ?? null }) + '\n')
      } catch (e) {
        process.stdout.write(JSON.stringify({ id, error: String(e) }) + '\n')
      }
    })
    .on('close', () => process.exit(0))
}

if (process.argv[1] && /kube-double-serve\.ts$/.test(process.argv[1])) void serveKubeDouble()
