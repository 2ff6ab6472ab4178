// flanneld's health port. /healthz: liveness of flanneld itself (200 while it runs; a part that
// died or hung is restarted by flanneld, not a reason to restart flanneld), with flanneld's body.
// /readyz: 200 only while subnet.env is on disk and every part has reported ready (node-health.ts);
// flanneld's bodies ("flanneld is ready", "flanneld is not ready yet") followed by the reason, or
// the whole per-part state as JSON with `?verbose` or `Accept: application/json`.
// /metrics: Prometheus text format.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { NodeHealth } from './node-health.ts'

export function serveHealth(ip: string, port: number, health: NodeHealth, onError: (e: Error) => void): Server {
  const srv = createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?')
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end()
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('flanneld is running')
    } else if (path === '/readyz') {
      const r = health.readiness()
      const code = r.ready ? 200 : 503
      if (wantsJson(req, query)) res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(r, null, 2) + '\n')
      else res.writeHead(code, { 'content-type': 'text/plain' }).end(r.ready ? 'flanneld is ready' : `flanneld is not ready yet: ${r.reason}`)
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(health.metricsText())
    } else res.writeHead(404).end('not found')
  })
  srv.on('error', onError)
  srv.listen(port, ip)
  return srv
}

function wantsJson(req: IncomingMessage, query: string): boolean {
  return /(^|&)verbose(=|&|$)/.test(query) || /application\/json/.test(req.headers.accept ?? '')
}
