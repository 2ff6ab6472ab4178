// etcd v3 through its HTTP/JSON gateway (the /v3/* endpoints every etcd >= 3.4 serves on its
// client port), so a node needs no etcdctl. Keys and values travel base64-encoded; int64 fields
// (revisions, lease ids) arrive as decimal strings. Revisions fit a JS number; lease ids may not,
// so they stay strings. A connection failure moves on to the next endpoint (as clientv3 does;
// see etcd-transport.ts).
import { Transport, UnreachableError } from './transport.ts'
import { Auth, AuthError, isInvalidToken, needsCredentials } from './auth.ts'

export { UnreachableError, AuthError }

export interface EtcdOptions {
  endpoints: string[]
  cafile?: string
  certfile?: string
  keyfile?: string
  timeoutMs?: number
  /** etcd user (with password): every call carries a token (etcd-auth.ts) */
  username?: string
  password?: string
}

export interface KV {
  key: string
  value: string
  modRevision: number
  createRevision: number
  version: number
  /** decimal etcd lease id, "0" if none */
  lease: string
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE'
  /** for DELETE: key only, value '' */
  kv: KV
  revision: number
}

export class CompactedError extends Error {
  constructor(readonly compactRevision: number) {
    super(`etcd: required revision has been compacted (compact revision ${compactRevision})`)
  }
}

/** etcd answered, with an error (not a connection problem). */
export class EtcdError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly grpcCode?: number,
  ) {
    super(message)
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64')
const unb64 = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '')
const num = (s: unknown) => (s === undefined || s === null ? 0 : Number(s))

/** The range end that selects every key starting with prefix (prefix with its last byte + 1). */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8')
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const e = Buffer.from(b.subarray(0, i + 1))
      e[i]++
      return e.toString('base64')
    }
  }
  return Buffer.from([0]).toString('base64') // every key
}

function toKV(raw: Record<string, unknown>): KV {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    modRevision: num(raw.mod_revision),
    createRevision: num(raw.create_revision),
    version: num(raw.version),
    lease: raw.lease === undefined ? '0' : String(raw.lease),
  }
}

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export class EtcdClient {
  private readonly t: Transport
  private readonly auth?: Auth

  constructor(o: EtcdOptions) {
    this.t = new Transport(o)
    if (o.username) this.auth = new Auth({ username: o.username, password: o.password ?? '' }, (p, b, h) => this.post(p, b, h))
  }

  get endpoints(): string[] {
    return this.t.endpoints
  }

  /** Drop idle keep-alive connections (they do not keep the process alive anyway). */
  close(): void {
    this.t.close()
  }

  /** The key now, or as it was at revision `at` (etcd keeps history until compacted). */
  async get(key: string, at?: number): Promise<KV | undefined> {
    const body: Json = { key: b64(key) }
    if (at) body.revision = String(at)
    const r = await this.call('/v3/kv/range', body)
    return r.kvs?.length ? toKV(r.kvs[0]) : undefined
  }

  /** Every key under prefix at one revision, read in pages so a big registry is not one huge message. */
  async list(prefix: string): Promise<{ kvs: KV[]; revision: number }> {
    const end = prefixEnd(prefix)
    const kvs: KV[] = []
    let from = b64(prefix)
    let revision = 0
    for (;;) {
      const body: Json = { key: from, range_end: end, limit: 2000 }
      if (revision) body.revision = String(revision)
      const r = await this.call('/v3/kv/range', body)
      if (!revision) revision = num(r.header?.revision)
      const page: KV[] = (r.kvs ?? []).map(toKV)
      kvs.push(...page)
      if (!r.more || !page.length) break
      from = Buffer.concat([Buffer.from(page[page.length - 1].key, 'utf8'), Buffer.from([0])]).toString('base64')
    }
    return { kvs, revision }
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const body: Json = { key: b64(key), value: b64(value) }
    if (lease && lease !== '0') body.lease = lease
    const r = await this.call('/v3/kv/put', body)
    return num(r.header?.revision)
  }

  async delete(key: string): Promise<void> {
    await this.call('/v3/kv/deleterange', { key: b64(key) })
  }

  async grant(ttlSeconds: number): Promise<string> {
    const r = await this.call('/v3/lease/grant', { TTL: String(ttlSeconds) })
    if (r.error) throw new EtcdError(`etcd lease grant: ${r.error}`, 200)
    return String(r.ID)
  }

  async revoke(id: string): Promise<void> {
    try {
      await this.call('/v3/lease/revoke', { ID: id })
    } catch (e) {
      // Revoking a lease that already expired is the state we wanted.
      if (e instanceof EtcdError && /lease not found/.test(e.message)) return
      throw e
    }
  }

  /** Seconds left on an etcd lease; -1 when it is gone. */
  async timeToLive(id: string): Promise<number> {
    const r = await this.call('/v3/lease/timetolive', { ID: id })
    return num(r.TTL)
  }

  /** Compare-and-set create: put only when the key does not exist (version 0). */
  async createIfAbsent(key: string, value: string, lease?: string): Promise<boolean> {
    const put: Json = { key: b64(key), value: b64(value) }
    if (lease && lease !== '0') put.lease = lease
    const r = await this.call('/v3/kv/txn', {
      compare: [{ target: 'VERSION', key: b64(key), result: 'EQUAL', version: '0' }],
      success: [{ request_put: put }],
    })
    return r.succeeded === true
  }

  /**
   * Compare-and-set update: put only while the key exists (version > 0), or, with `expect`, only
   * while it still holds exactly that value. A renewal must neither recreate a key an operator (or
   * expiry) deleted meanwhile, nor overwrite the lease another node took after ours expired.
   */
  async putIfPresent(key: string, value: string, lease?: string, expect?: string): Promise<boolean> {
    const put: Json = { key: b64(key), value: b64(value) }
    if (lease && lease !== '0') put.lease = lease
    const compare =
      expect === undefined ? { target: 'VERSION', key: b64(key), result: 'GREATER', version: '0' } : { target: 'VALUE', key: b64(key), result: 'EQUAL', value: b64(expect) }
    const r = await this.call('/v3/kv/txn', {
      compare: [compare],
      success: [{ request_put: put }],
    })
    return r.succeeded === true
  }

  /**
   * Stream events under prefix from fromRevision (inclusive) until signal aborts (then resolve).
   * Rejects with CompactedError when fromRevision is compacted, or an Error when the stream breaks.
   */
  async watch(prefix: string, fromRevision: number, onEvent: (ev: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const h = this.auth ? await this.auth.headers() : {}
    let delivered = false
    try {
      return await this.watchWith(h, prefix, fromRevision, (ev) => ((delivered = true), onEvent(ev)), signal)
    } catch (e) {
      if (!this.auth || !isInvalidToken(e)) throw e
      this.auth.invalidate(h)
      // A refused token cancels the watch before any event; once events flowed, the caller resumes.
      if (delivered) throw e
      return await this.watchWith(await this.auth.headers(), prefix, fromRevision, onEvent, signal)
    }
  }

  private async watchWith(headers: Record<string, string>, prefix: string, fromRevision: number, onEvent: (ev: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: String(fromRevision) } })
    const res = await this.t.open('/v3/watch', body, signal, true, headers)
    if (!res) return // aborted while connecting
    await new Promise<void>((resolve, reject) => {
      let buf = ''
      let done = false
      const finish = (err?: Error) => {
        if (done) return
        done = true
        signal.removeEventListener('abort', onAbort)
        res.destroy()
        if (err) reject(err)
        else resolve()
      }
      const onAbort = () => finish()
      signal.addEventListener('abort', onAbort)
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let nl: number
        // The gateway writes one JSON object per line.
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim()
          buf = buf.slice(nl + 1)
          if (!line) continue
          let msg: Json
          try {
            msg = JSON.parse(line)
          } catch {
            return finish(new Error(`etcd watch: bad message: ${line.slice(0, 200)}`))
          }
          if (msg.error) return finish(new Error(`etcd watch: ${msg.error.message ?? JSON.stringify(msg.error)}`))
          const r = msg.result ?? {}
          if (num(r.compact_revision) > 0) return finish(new CompactedError(num(r.compact_revision)))
          if (r.canceled) return finish(new EtcdError(`etcd watch canceled: ${r.cancel_reason ?? 'no reason given'}`, 200))
          for (const e of r.events ?? []) {
            const kv = toKV(e.kv ?? {})
            const ev: WatchEvent = { type: e.type === 'DELETE' ? 'DELETE' : 'PUT', kv, revision: kv.modRevision }
            try {
              onEvent(ev)
            } catch (err) {
              return finish(err as Error)
            }
            if (done) return
          }
        }
      })
      res.on('end', () => finish(signal.aborted ? undefined : new Error('etcd watch: stream closed by server')))
      res.on('error', (e) => finish(signal.aborted ? undefined : new Error(`etcd watch: ${e.message}`)))
      res.on('close', () => finish(signal.aborted ? undefined : new Error('etcd watch: connection lost')))
    })
  }

  /** One call, with the auth token if any; a refused token is renewed and the call made once more. */
  private async call(path: string, body: Json): Promise<Json> {
    if (!this.auth) {
      try {
        return await this.post(path, body, {})
      } catch (e) {
        if (needsCredentials(e)) throw new AuthError(`${(e as Error).message}: etcd has authentication enabled; give --etcd-username and --etcd-password`)
        throw e
      }
    }
    const h = await this.auth.headers()
    try {
      return await this.post(path, body, h)
    } catch (e) {
      if (!isInvalidToken(e)) throw e
      this.auth.invalidate(h)
      return await this.post(path, body, await this.auth.headers())
    }
  }

  /** POST a JSON body, parse the JSON answer; fail over on connection errors. */
  private async post(path: string, body: Json, headers: Record<string, string>): Promise<Json> {
    const res = await this.t.open(path, JSON.stringify(body), undefined, false, headers)
    const text = await new Promise<string>((resolve, reject) => {
      let s = ''
      res!.setEncoding('utf8')
      res!.on('data', (c: string) => (s += c))
      res!.on('end', () => resolve(s))
      res!.on('error', reject)
    })
    let j: Json
    try {
      j = JSON.parse(text)
    } catch {
      throw new EtcdError(`etcd ${path}: HTTP ${res!.statusCode}: ${text.slice(0, 200)}`, res!.statusCode ?? 0)
    }
    // 503 / gRPC Unavailable (no leader, member stopping): transient, like a refused connection.
    if (res!.statusCode === 503 || j.code === 14) throw new UnreachableError(`etcd ${path}: unavailable: ${j.message ?? j.error ?? text}`)
    if (res!.statusCode !== 200 || (j.error && j.code !== undefined)) {
      const m = j.message ?? j.error ?? text
      throw new EtcdError(`etcd ${path}: ${m}`, res!.statusCode ?? 0, j.code)
    }
    return j
  }
}
