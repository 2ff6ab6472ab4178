// The HTTP side of the etcd client: POST to the first endpoint that accepts a connection
// (starting with the last good one), TLS with CA / client certificate files, keep-alive for
// unary calls, a dedicated connection per watch stream, extra headers (the auth token) per call.
import http from 'node:http'
import https from 'node:https'
import { readFileSync } from 'node:fs'
import { parseEndpoint, type Endpoint } from './endpoint.ts'

/** No endpoint could be reached. */
export class UnreachableError extends Error {}

export interface TransportOptions {
  endpoints: string[]
  cafile?: string
  certfile?: string
  keyfile?: string
  timeoutMs?: number
}

export class Transport {
  private readonly urls: Endpoint[]
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }
  private readonly timeoutMs: number
  private readonly httpAgent = new http.Agent({ keepAlive: true })
  private readonly httpsAgent = new https.Agent({ keepAlive: true })
  /** index of the endpoint that answered last; requests start there */
  private current = 0

  constructor(o: TransportOptions) {
    if (!o.endpoints.length) throw new Error('no etcd endpoints given')
    this.urls = o.endpoints.map((e) => parseEndpoint(e, Boolean(o.cafile || o.certfile)))
    this.tls = {
      ca: o.cafile ? readFileSync(o.cafile) : undefined,
      cert: o.certfile ? readFileSync(o.certfile) : undefined,
      key: o.keyfile ? readFileSync(o.keyfile) : undefined,
    }
    this.timeoutMs = o.timeoutMs ?? 5000
  }

  get endpoints(): string[] {
    return this.urls.map((u) => u.origin)
  }

  /** Drop idle keep-alive connections (they do not keep the process alive anyway). */
  close(): void {
    this.httpAgent.destroy()
    this.httpsAgent.destroy()
  }

  /**
   * Open a POST on the first endpoint that accepts a connection, starting with the last good one.
   * Returns undefined only when signal aborted. 503 (no leader, stopping) counts as unreachable.
   */
  async open(path: string, body: string, signal: AbortSignal | undefined, stream: boolean, headers: Record<string, string> = {}): Promise<http.IncomingMessage | undefined> {
    const errors: string[] = []
    for (let n = 0; n < this.urls.length; n++) {
      const i = (this.current + n) % this.urls.length
      const u = this.urls[i]
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const res = await this.once(u, path, body, signal, stream, headers)
          if (!res) return undefined
          if (res.statusCode === 503 && n + 1 < this.urls.length) {
            res.resume()
            errors.push(`${u.origin}: HTTP 503`)
            break
          }
          this.current = i
          return res
        } catch (e) {
          if (signal?.aborted) return undefined
          // A kept-alive socket the server closed meanwhile (etcd restarted): once more, fresh.
          if ((e as { reusedSocket?: boolean }).reusedSocket && attempt === 0) continue
          errors.push(`${u.origin}: ${(e as Error).message}`)
          break
        }
      }
    }
    throw new UnreachableError(`etcd unreachable (${errors.join('; ')})`)
  }

  private once(
    u: Endpoint,
    path: string,
    body: string,
    signal: AbortSignal | undefined,
    stream: boolean,
    headers: Record<string, string>,
  ): Promise<http.IncomingMessage | undefined> {
    return new Promise((resolve, reject) => {
      const secure = u.secure
      const mod = secure ? https : http
      const req = mod.request(
        {
          protocol: secure ? 'https:' : 'http:',
          ...(u.socketPath ? { socketPath: u.socketPath } : { hostname: u.hostname, port: u.port }),
          path: (u.basePath ?? '') + path,
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          agent: stream ? false : secure ? this.httpsAgent : this.httpAgent,
          ...(secure ? this.tls : {}),
        },
        (res) => {
          signal?.removeEventListener('abort', onAbort)
          if (stream) clearTimeout(timer)
          else {
            // The body too: a reply that stalls after its headers must fail, not hang the caller
            // (a stuck relist would freeze the route syncer's sync loop for good).
            response = res
            res.once('end', () => clearTimeout(timer))
            res.once('close', () => clearTimeout(timer))
          }
          resolve(res)
        },
      )
      // Unary calls: the whole exchange is bounded. Watches: only the connection setup is.
      let response: http.IncomingMessage | undefined
      const timer = setTimeout(() => {
        if (response) response.destroy(new UnreachableError(`etcd ${u.origin}${path}: reply timed out after ${this.timeoutMs} ms`))
        else req.destroy(new Error(`timed out after ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      const onAbort = () => {
        clearTimeout(timer)
        req.destroy()
        resolve(undefined)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      req.on('error', (e) => {
        if (req.reusedSocket && !stream) (e as { reusedSocket?: boolean }).reusedSocket = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        reject(e)
      })
      if (stream) req.on('socket', (s) => s.setKeepAlive(true, 5000))
      req.end(body)
    })
  }
}
