// A small Kubernetes API client on node:https: JSON requests, strategic-merge PATCH, watch
// streams. Failures are typed: PermanentError (401, 403 naming the RBAC rule that is missing, a
// server certificate we do not trust: said once, never retried, and as TLS verification happens
// before a request is sent, no token ever reaches a server that failed it), TransientError
// (unreachable, 429, 5xx: `call` retries them visibly, honouring Retry-After), KubeStatusError
// (anything else the server answers, e.g. 404, 409, 410: the caller decides).
import { Agent, request } from 'node:https'
import { Agent as PlainAgent, request as plainRequest, type IncomingMessage } from 'node:http'
import { PermanentError, TransientError } from '../errors.ts'
import { log, warn, errText } from '../../core/log.ts'
import type { KubeTarget } from './credentials.ts'

export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

export class KubeTransientError extends TransientError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

const TLS_TRUST = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
])

/** The rule kube-flannel's ClusterRole would need for this request, as RBAC writes it. */
export function rbacRule(method: string, path: string): string {
  const [p, q = ''] = path.split('?')
  const seg = p
    .replace(/^\/api\/v1\//, '')
    .replace(/^namespaces\/[^/]+\//, '')
    .split('/')
  const [res, name, sub] = seg
  const resource = sub ? `${res}/${sub}` : res
  const verb = method === 'GET' ? (/(^|&)watch=(true|1)/.test(q) ? 'watch' : name ? 'get' : 'list') : method === 'PATCH' ? 'patch' : method.toLowerCase()
  return `apiGroups: [""], resources: ["${resource}"], verbs: ["${verb}"]`
}

export class KubeClient {
  private agent: Agent | PlainAgent
  private readonly plain: boolean

  constructor(readonly target: KubeTarget) {
    if (target.insecure) warn(`insecure-skip-tls-verify is set (${target.source}): the API server's certificate is NOT verified`)
    // http:// only ever comes from --kube-api-url alone, which carries no credentials (credentials.ts).
    this.plain = target.server.protocol === 'http:'
    if (this.plain) warn(`the API server ${target.server.origin} is plain http (--kube-api-url): nothing is encrypted or verified`)
    this.agent = this.plain
      ? new PlainAgent({ keepAlive: true, maxSockets: 8 })
      : new Agent({
          keepAlive: true,
          maxSockets: 8,
          ca: target.ca,
          cert: target.cert,
          key: target.key,
          rejectUnauthorized: !target.insecure,
          servername: target.serverName,
        })
  }

  /** Open a request; the response once its headers are in (any status). */
  private open(method: string, path: string, body: string | undefined, contentType: string | undefined, signal?: AbortSignal): Promise<IncomingMessage> {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'weft-flanneld' }
    const token = this.target.token()
    if (token) headers.Authorization = `Bearer ${token}`
    if (body !== undefined) Object.assign(headers, { 'Content-Type': contentType ?? 'application/json', 'Content-Length': String(Buffer.byteLength(body)) })
    const u = new URL(path, this.target.server)
    return new Promise((resolve, reject) => {
      const req = (this.plain ? plainRequest : request)(u, { method, headers, agent: this.agent, signal }, resolve)
      req.on('error', (e: NodeJS.ErrnoException) => reject(this.classify(e)))
      req.end(body)
    })
  }

  private classify(e: NodeJS.ErrnoException): Error {
    if (e.name === 'AbortError') return e
    const server = this.target.server.origin
    if (e.code && TLS_TRUST.has(e.code))
      return new PermanentError(`the API server ${server} presented a certificate we do not trust (${e.code}: ${e.message}); check the CA of ${this.target.source}`)
    return new KubeTransientError(`the API server ${server} is unreachable: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '))
  }

  /** Turn a non-2xx answer into the right error. */
  private async failure(res: IncomingMessage, method: string, path: string): Promise<Error> {
    const text = await readAll(res)
    let st: { message?: string; reason?: string } = {}
    try {
      st = JSON.parse(text)
    } catch {}
    const code = res.statusCode ?? 0
    const msg = st.message ?? text.slice(0, 200)
    if (code === 401) return new PermanentError(`the API server refused our credentials (401 Unauthorized) for ${method} ${path.split('?')[0]}; check ${this.target.source}`)
    if (code === 403) return new PermanentError(`${msg} (403 Forbidden): the ClusterRole bound to us needs the rule ${rbacRule(method, path)}`)
    if (code === 429 || code >= 500) {
      const ra = Number(res.headers['retry-after'])
      return new KubeTransientError(
        `${method} ${path.split('?')[0]}: ${code} ${st.reason ?? ''} ${msg}`.replace(/\s+/g, ' '),
        Number.isFinite(ra) && ra >= 0 ? ra * 1000 : undefined,
      )
    }
    return new KubeStatusError(code, st.reason ?? '', `${method} ${path.split('?')[0]}: ${code} ${msg}`)
  }

  /** One request, its JSON answer; throws a typed error. */
  async do<T = any>(method: string, path: string, o: { body?: unknown; contentType?: string; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.open(method, path, o.body === undefined ? undefined : JSON.stringify(o.body), o.contentType, o.signal)
    if ((res.statusCode ?? 0) >= 300) throw await this.failure(res, method, path)
    const text = await readAll(res)
    try {
      return JSON.parse(text) as T
    } catch {
      throw new KubeTransientError(`${method} ${path}: the answer is not JSON`)
    }
  }

  /**
   * do(), retrying what is transient (and 409 Conflict when asked) with backoff 1 s -> 30 s, or
   * the server's Retry-After; said once, then every 30 s. Permanent errors go straight up.
   */
  async call<T = any>(what: string, method: string, path: string, o: { body?: unknown; contentType?: string; signal?: AbortSignal; retryConflict?: boolean } = {}): Promise<T> {
    let backoff = 1000
    let since = 0
    let said = 0
    for (;;) {
      try {
        const r = await this.do<T>(method, path, o)
        if (since) log(`${what}: the API server answers again after ${Math.round((Date.now() - since) / 1000)} s`)
        return r
      } catch (e) {
        const conflict = o.retryConflict && e instanceof KubeStatusError && e.code === 409
        if (!(e instanceof TransientError) && !conflict) throw e
        if (o.signal?.aborted) throw e
        const wait = e instanceof KubeTransientError && e.retryAfterMs !== undefined ? e.retryAfterMs : backoff
        if (Date.now() - said >= 30_000) {
          log(`${what}: ${errText(e)}; retrying in ${(wait / 1000).toFixed(1)} s`)
          said = Date.now()
        }
        since ||= Date.now()
        await pause(wait, o.signal)
        backoff = Math.min(backoff * 2, 30_000)
      }
    }
  }

  /** A watch stream: onEvent per JSON line, until the server ends it (or signal aborts). */
  async watch(path: string, onEvent: (ev: { type: string; object: any }) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open('GET', path, undefined, undefined, signal)
    if ((res.statusCode ?? 0) >= 300) throw await this.failure(res, 'GET', path)
    let buf = ''
    await new Promise<void>((resolve, reject) => {
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let i
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim()
          buf = buf.slice(i + 1)
          if (!line) continue
          try {
            onEvent(JSON.parse(line))
          } catch (e) {
            res.destroy()
            return reject(e)
          }
        }
      })
      res.on('end', resolve)
      res.on('error', (e) => reject(signal.aborted ? e : new KubeTransientError(`watch stream broken: ${e.message}`)))
      res.on('close', resolve)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c) => chunks.push(c))
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('error', reject)
  })
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })
}
