// GET a node's health port from inside its namespace (the port listens on the node's own
// 127.0.0.1): one short node process per request, as an operator's curl on the node would be.
import { run } from '../core/sh.ts'

export interface Probe {
  status: number
  body: string
}

const JS = `fetch(process.argv[1],{headers:{accept:process.argv[2]||'*/*'}}).then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()})),e=>process.stdout.write(JSON.stringify({status:0,body:String(e)})))`

export async function probe(ns: string, path: string, o: { port?: number; accept?: string } = {}): Promise<Probe> {
  const r = await run(['ip', 'netns', 'exec', ns, process.execPath, '-e', JS, `http://127.0.0.1:${o.port ?? 8081}${path}`, o.accept ?? ''])
  return JSON.parse(r.stdout) as Probe
}

/** /readyz?verbose as a value: ready, the reason, every part's state. */
export async function readyz(
  ns: string,
  port?: number,
): Promise<{ status: number; ready: boolean; reason: string; parts: Record<string, { state: string; detail: string; pid?: number; restarts: number }> }> {
  const p = await probe(ns, '/readyz?verbose', { port })
  if (!p.status) return { status: 0, ready: false, reason: p.body, parts: {} }
  return { status: p.status, ...JSON.parse(p.body) }
}

/** One sample of /metrics (the first series of that name whose labels contain `labels`), or undefined. */
export function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) return Number(m[3])
  }
  return undefined
}
