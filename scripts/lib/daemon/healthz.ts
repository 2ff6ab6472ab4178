// flanneld's health endpoints: /healthz is 200 while the process runs, /readyz is 503 until
// subnet.env has been written, then 200 (same bodies as flanneld).
import { createServer, type Server } from 'node:http'

export function serveHealth(ip: string, port: number, isReady: () => boolean, onError: (e: Error) => void): Server {
  const srv = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('flanneld is running')
    } else if (path === '/readyz') {
      if (isReady()) res.writeHead(200, { 'content-type': 'text/plain' }).end('flanneld is ready')
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('flanneld is not ready yet')
    } else res.writeHead(404).end('not found')
  })
  srv.on('error', onError)
  srv.listen(port, ip)
  return srv
}
