// A Kubernetes API TEST DOUBLE (not a kube-apiserver): the few endpoints flannel's kube subnet
// manager and kubectl use, answered the way kube-apiserver v1.32 answers them, so weft's kube
// registry can be tested without a cluster. It runs as its own process (kube-double-serve.ts,
// started by startKubeDouble in kube-double-client.ts), so it can listen inside a test namespace;
// the test drives it through the child's stdin/stdout (one JSON line per command).
//
// Where each behaviour comes from (k8s.io/apiserver v1.32 unless said), and checked against the
// real clients in test/e2e/kube-double.test.ts (kubectl 1.32, Debian python3-kubernetes):
// - HTTPS only, certificate from a CA made with openssl (kube-pki.ts). Authentication: bearer
//   token (authentication/request/bearertoken) or client certificate CN/O (request/x509); none
//   or unknown -> 401 Status {"message":"Unauthorized","reason":"Unauthorized"}.
// - Authorization: RBAC with kube-flannel.yml's ClusterRole for the flannel service account
//   (pods get; nodes get/list/watch; nodes/status patch); user "admin" (system:masters) may do
//   anything. Denied -> 403 Status, message as rbac's authorizer + endpoints/handlers/responsewriters
//   build it: `nodes "n1" is forbidden: User "U" cannot patch resource "nodes" in API group "" at
//   the cluster scope` (subresource as "nodes/status"; namespaced: `in the namespace "ns"`).
// - Discovery /api, /apis, /api/v1, /version: allowed to every authenticated user (the
//   system:discovery ClusterRole).
// - List: limit/continue (storage/etcd3 store.go GetList: continue token = base64 JSON of the RV
//   and start key; a token older than the compaction -> 410 reason "Expired"); RV "0" served
//   from the cache with limit ignored (cacher.go); fieldSelector metadata.name=X (kubectl get
//   <name> --watch uses it).
// - Watch: newline-delimited JSON events on a chunked 200; RV unset/"0" -> synthetic ADDED for
//   every object first; events after RV only; BOOKMARK {metadata.resourceVersion} when
//   allowWatchBookmarks (cacher.go sends them periodically and before the timeout); an RV older
//   than the compaction -> an ERROR event with a 410 Status "too old resource version: X (Y)"
//   (cacher.go newErrWatcher); the stream ends at timeoutSeconds.
// - PATCH: strategic-merge-patch+json and merge-patch+json (kube-double-store.ts); through
//   nodes/<n>/status spec changes are dropped; a stale metadata.resourceVersion in the patch -> 409.
// - 429 with Retry-After (apiserver's max-in-flight filter sets Retry-After: 1), and injected 5xx.
// FAULT INJECTION (the double's, for tests; no real server fails on demand): injectFault({code,
// times, match, retryAfter}) answers the next `times` requests whose "METHOD /path" matches with
// `code`, as kube-apiserver words that status: 409 Conflict (what a patch carrying a stale
// resourceVersion gets), 429 TooManyRequests with Retry-After (filters/maxinflight.go), 500
// InternalError, 503 ServiceUnavailable, 504 Timeout. Faults come after authentication (a wrong
// token is still 401) and before authorization. `timeline` records every request with the time
// it arrived and the status it got, so a test can measure how long a client waited.
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { Store, type Obj } from './kube-double-store.ts'

export const FLANNEL_USER = 'system:serviceaccount:kube-flannel:flannel'
/** kube-flannel.yml's ClusterRole: resource -> verbs. */
const FLANNEL_RULES: Record<string, string[]> = { pods: ['get'], nodes: ['get', 'list', 'watch'], 'nodes/status': ['patch'] }

interface Req {
  verb: string
  resource: string // nodes, nodes/status, pods
  name?: string
  namespace?: string
  query: URLSearchParams
}

export class KubeApiDouble {
  store = new Store()
  tokens = new Map<string, string>() // token -> user
  bookmarkMs = 5000
  private faults: Fault[] = []
  private watches = new Set<ServerResponse>()
  /** while set, new watches wait (an apiserver restarting): released by hold(false) */
  private held?: (() => void)[]
  private snapshots = new Map<number, Obj[]>()
  requests: string[] = []
  /** every request: when it arrived (ms since the epoch), what it was, the status it got */
  timeline: { at: number; request: string; code?: number }[] = []
  server?: Server

  listen(host: string, port: number, cert: string, key: string, ca: string): Promise<number> {
    this.server = createServer({ cert, key, ca, requestCert: true, rejectUnauthorized: false }, (req, res) => this.handle(req, res))
    return new Promise((resolve) => this.server!.listen(port, host, () => resolve((this.server!.address() as { port: number }).port)))
  }

  /** Next n API requests answer code (429 with Retry-After, or a 5xx). */
  fail(n: number, code = 429, retryAfter = 1): void {
    this.injectFault({ times: n, code, retryAfter })
  }

  /**
   * Fault injection: the next `times` requests matching `match` (a regular expression tested
   * against "METHOD /path", e.g. "^PATCH /api/v1/nodes/n1/status$"; default: every request)
   * answer `code`. Faults are used in the order they were injected.
   */
  injectFault(f: { code: number; times?: number; match?: string; retryAfter?: number }): void {
    if (!FAULTS[f.code]) throw new Error(`the double injects ${Object.keys(FAULTS).join(', ')}, not ${f.code}`)
    this.faults.push({ code: f.code, times: f.times ?? 1, match: new RegExp(f.match ?? ''), retryAfter: f.retryAfter ?? 1 })
  }

  /** End every open watch stream, as an apiserver restart or a load balancer would. */
  dropWatches(): number {
    const n = this.watches.size
    for (const w of this.watches) w.end()
    this.watches.clear()
    return n
  }

  /** Hold new watch requests (true), or answer the held ones now (false). */
  hold(on: boolean): void {
    if (on) return void (this.held ??= [])
    const queued = this.held ?? []
    this.held = undefined
    for (const go of queued) go()
  }

  compact(): void {
    this.store.compact()
    this.snapshots.clear()
  }

  private user(req: IncomingMessage): string | undefined {
    const auth = req.headers.authorization
    if (auth?.startsWith('Bearer ')) return this.tokens.get(auth.slice(7).trim())
    const sock = req.socket as TLSSocket
    if (sock.authorized) return sock.getPeerCertificate()?.subject?.CN as string | undefined
    return undefined
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://x')
    this.requests.push(`${req.method} ${url.pathname}${url.search}`)
    const seen: (typeof this.timeline)[number] = { at: Date.now(), request: `${req.method} ${url.pathname}${url.search}` }
    this.timeline.push(seen)
    res.on('finish', () => (seen.code = res.statusCode))
    const user = this.user(req)
    if (!user) return status(res, 401, 'Unauthorized', 'Unauthorized')
    if (url.pathname === '/api' || url.pathname === '/apis' || url.pathname === '/api/v1' || url.pathname === '/version') return discovery(url.pathname, res)
    const r = route(req.method ?? 'GET', url)
    if (!r) return status(res, 404, 'NotFound', 'the server could not find the requested resource')
    const fault = this.faults.find((f) => f.times > 0 && f.match.test(`${req.method} ${url.pathname}`))
    if (fault) {
      fault.times--
      this.faults = this.faults.filter((f) => f.times > 0)
      const [reason, message] = FAULTS[fault.code](r.name ?? '')
      if (fault.code === 429) res.setHeader('Retry-After', String(fault.retryAfter))
      return status(res, fault.code, reason, message, fault.code === 409 ? { name: r.name, kind: 'nodes' } : undefined)
    }
    if (user !== 'admin' && !(user === FLANNEL_USER && FLANNEL_RULES[r.resource]?.includes(r.verb))) {
      const what = r.name ? `${r.resource.split('/')[0]} "${r.name}"` : r.resource.split('/')[0]
      const scope = r.namespace ? `in the namespace "${r.namespace}"` : 'at the cluster scope'
      return status(res, 403, 'Forbidden', `${what} is forbidden: User "${user}" cannot ${r.verb} resource "${r.resource}" in API group "" ${scope}`, {
        name: r.name,
        kind: r.resource.split('/')[0],
      })
    }
    readBody(req)
      .then((body) => this.serve(r, body, req, res))
      .catch((e) => status(res, 500, 'InternalError', String(e)))
  }

  private serve(r: Req, body: string, req: IncomingMessage, res: ServerResponse): void {
    const s = this.store
    const notFound = () => status(res, 404, 'NotFound', `${r.resource.split('/')[0]} "${r.name}" not found`, { name: r.name, kind: r.resource.split('/')[0] })
    if (r.resource === 'pods') {
      const p = s.pods.get(`${r.namespace}/${r.name}`)
      return p ? json(res, 200, p) : notFound()
    }
    switch (r.verb) {
      case 'get': {
        const n = s.nodes.get(r.name!)
        return n ? json(res, 200, n) : notFound()
      }
      case 'list':
        return this.list(r.query, res)
      case 'watch':
        if (this.held) return void this.held.push(() => this.watch(r.query, res))
        return this.watch(r.query, res)
      case 'create': {
        const n = JSON.parse(body)
        if (s.nodes.has(n.metadata?.name)) return status(res, 409, 'AlreadyExists', `nodes "${n.metadata.name}" already exists`, { name: n.metadata.name, kind: 'nodes' })
        return json(res, 201, s.createNode(n))
      }
      case 'delete': {
        const n = s.nodes.get(r.name!)
        if (!n) return notFound()
        s.deleteNode(r.name!)
        return json(res, 200, n)
      }
      case 'patch': {
        const old = s.nodes.get(r.name!)
        if (!old) return notFound()
        const type = (req.headers['content-type'] ?? '').split(';')[0]
        let patch: Obj
        try {
          patch = JSON.parse(body)
        } catch {
          return status(res, 400, 'BadRequest', 'error decoding patch: invalid JSON')
        }
        if (type !== 'application/strategic-merge-patch+json' && type !== 'application/merge-patch+json')
          return status(
            res,
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`,
          )
        const rv = patch.metadata?.resourceVersion
        if (rv !== undefined && rv !== old.metadata.resourceVersion)
          return status(
            res,
            409,
            'Conflict',
            `Operation cannot be fulfilled on nodes "${r.name}": the object has been modified; please apply your changes to the latest version and try again`,
            { name: r.name, kind: 'nodes' },
          )
        const merge = type === 'application/merge-patch+json'
        const out = r.resource === 'nodes/status' ? s.patchNodeStatus(r.name!, patch, merge) : s.patchNode(r.name!, patch, merge)
        return json(res, 200, out)
      }
    }
    status(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
  }

  private list(q: URLSearchParams, res: ServerResponse): void {
    const s = this.store
    const byName = fieldName(q)
    const pick = (ns: Obj[]) => (byName ? ns.filter((n) => n.metadata.name === byName) : ns)
    const limit = Number(q.get('limit') ?? 0)
    const cont = q.get('continue')
    let items: Obj[]
    let rv: number
    let start = ''
    if (cont) {
      let tok: { rv: number; start: string }
      try {
        tok = JSON.parse(Buffer.from(cont, 'base64').toString())
      } catch {
        return status(res, 400, 'BadRequest', 'continue key is not valid: illegal base64 data')
      }
      const snap = this.snapshots.get(tok.rv)
      if (tok.rv < s.compactedAt || !snap)
        return status(
          res,
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        )
      items = snap
      rv = tok.rv
      start = tok.start
    } else {
      // No copy needed: the store replaces objects, it never changes one in place.
      items = pick([...s.nodes.values()].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1)))
      rv = s.rv
    }
    const fromCache = q.get('resourceVersion') === '0'
    const rest = items.filter((n) => n.metadata.name > start)
    const page = limit > 0 && !fromCache ? rest.slice(0, limit) : rest
    const meta: Obj = { resourceVersion: String(rv) }
    if (page.length < rest.length) {
      this.snapshots.set(rv, items)
      meta.continue = Buffer.from(JSON.stringify({ rv, start: page[page.length - 1].metadata.name })).toString('base64')
      meta.remainingItemCount = rest.length - page.length
    }
    json(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: meta, items: page })
  }

  private watch(q: URLSearchParams, res: ServerResponse): void {
    const s = this.store
    const byName = fieldName(q)
    const match = (o: Obj) => !byName || o.metadata.name === byName
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' })
    // A stream ended by dropWatches() hears of changes made before its 'close' event: not written.
    const send = (type: string, object: Obj) => void (res.writableEnded || res.write(JSON.stringify({ type, object }) + '\n'))
    const rvText = q.get('resourceVersion') ?? ''
    const from = rvText === '' || rvText === '0' ? undefined : Number(rvText)
    if (from !== undefined && (!Number.isInteger(from) || from < s.compactedAt)) {
      send('ERROR', statusBody(410, 'Expired', `too old resource version: ${rvText} (${s.compactedAt})`))
      return void res.end()
    }
    if (from === undefined) for (const n of [...s.nodes.values()].filter(match)) send('ADDED', n)
    else for (const e of s.history) if (e.rv > from && match(e.object)) send(e.type, e.object)
    this.watches.add(res)
    const unsub = s.subscribe((e) => match(e.object) && send(e.type, e.object))
    const bookmark = () => send('BOOKMARK', { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(s.rv) } })
    const bm = goBool(q.get('allowWatchBookmarks')) ? setInterval(bookmark, this.bookmarkMs) : undefined
    const timeout = Number(q.get('timeoutSeconds') ?? 1800)
    const end = setTimeout(() => {
      if (bm) bookmark()
      res.end()
    }, timeout * 1000)
    res.on('close', () => {
      unsub()
      clearInterval(bm)
      clearTimeout(end)
      this.watches.delete(res)
    })
  }
}

interface Fault {
  code: number
  times: number
  match: RegExp
  retryAfter: number
}

/** What kube-apiserver answers with each injectable status: [reason, message]. */
const FAULTS: Record<number, (name: string) => [string, string]> = {
  409: (name) => ['Conflict', `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`],
  429: () => ['TooManyRequests', 'Too many requests, please try again later.'],
  500: () => ['InternalError', 'an error on the server ("injected by the test double") has prevented the request from succeeding'],
  503: () => ['ServiceUnavailable', 'the server is currently unable to handle the request'],
  504: () => ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
}

function route(method: string, url: URL): Req | undefined {
  const q = url.searchParams
  let m = /^\/api\/v1\/namespaces\/([a-z0-9.-]+)\/pods\/([a-z0-9.-]+)$/.exec(url.pathname)
  if (m) return method === 'GET' ? { verb: 'get', resource: 'pods', namespace: m[1], name: m[2], query: q } : undefined
  m = /^\/api\/v1\/nodes(?:\/([a-z0-9.-]+)(\/status)?)?$/.exec(url.pathname)
  if (!m) return undefined
  const [, name, sub] = m
  const resource = sub ? 'nodes/status' : 'nodes'
  const verb = !name
    ? method === 'GET'
      ? goBool(q.get('watch'))
        ? 'watch'
        : 'list'
      : method === 'POST' && !sub
        ? 'create'
        : ''
    : (({ GET: 'get', PATCH: 'patch', DELETE: sub ? '' : 'delete', PUT: 'update' } as Record<string, string>)[method] ?? '')
  return verb ? { verb, resource, name, query: q } : undefined
}

/** Go's strconv.ParseBool, as the apiserver's query decoding uses (python sends watch=True). */
function goBool(v: string | null): boolean {
  return v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)
}

function fieldName(q: URLSearchParams): string | undefined {
  const fs = q.get('fieldSelector')
  return fs ? /^metadata\.name=(.*)$/.exec(fs)?.[1] : undefined
}

function statusBody(code: number, reason: string, message: string, details?: Obj): Obj {
  const b: Obj = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
  if (details && details.name !== undefined) b.details = details
  return b
}

function status(res: ServerResponse, code: number, reason: string, message: string, details?: Obj): void {
  json(res, code, statusBody(code, reason, message, details))
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' })
  res.end(text)
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function discovery(path: string, res: ServerResponse): void {
  if (path === '/version') return json(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-weft-double', platform: 'linux/amd64' })
  if (path === '/apis') return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] })
  if (path === '/api') return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] })
  const r = (name: string, kind: string, namespaced: boolean, verbs: string[], shortNames?: string[]) => ({
    name,
    singularName: name.includes('/') ? '' : name.replace(/s$/, ''),
    namespaced,
    kind,
    verbs,
    ...(shortNames ? { shortNames } : {}),
  })
  json(res, 200, {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      r('nodes', 'Node', false, ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], ['no']),
      r('nodes/status', 'Node', false, ['get', 'patch', 'update']),
      r('pods', 'Pod', true, ['get'], ['po']),
    ],
  })
}
