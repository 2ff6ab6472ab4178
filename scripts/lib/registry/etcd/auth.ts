// etcd username/password (flanneld's --etcd-username/--etcd-password): POST /v3/auth/authenticate
// gives a token that goes in the Authorization header of every call and watch. etcd 3.4's simple
// tokens expire after --auth-token-ttl of disuse (300 s) and are local to the member that issued
// them, so a call answered "invalid auth token" (HTTP 401, gRPC 16) authenticates once more and
// is repeated once. Wrong credentials fail the call with etcd's message; nothing loops here.
// The password is only ever sent to etcd: it is never part of a message or log line.

export interface Credentials {
  username: string
  password: string
}

/** The answer of POST path with a JSON body and extra headers (EtcdClient's unary call). */
export type Post = (path: string, body: Record<string, unknown>, headers: Record<string, string>) => Promise<Record<string, any>> // eslint-disable-line @typescript-eslint/no-explicit-any

/** etcd refused the username/password (or the user cannot log in). */
export class AuthError extends Error {}

/** etcd's answer to a missing, expired or foreign token. */
export function isInvalidToken(e: unknown): boolean {
  const x = e as { grpcCode?: number; status?: number; message?: string }
  return x?.grpcCode === 16 || x?.status === 401 || /invalid auth token|Unauthenticated/.test(String(x?.message ?? ''))
}

/** A call made with auth enabled on etcd but no credentials given: say which flags are missing. */
export function needsCredentials(e: unknown): boolean {
  return /user name is empty/.test(String((e as Error)?.message ?? ''))
}

export class Auth {
  private token?: string
  /** one authentication at a time; concurrent calls share it */
  private pending?: Promise<string>

  constructor(
    private readonly creds: Credentials,
    private readonly post: Post,
  ) {}

  /** Headers for the next request, authenticating first if there is no token yet. */
  async headers(): Promise<Record<string, string>> {
    const token = this.token ?? (await this.fresh())
    return token ? { authorization: token } : {}
  }

  /** Forget the token that etcd refused (only if nobody has replaced it meanwhile). */
  invalidate(refused: Record<string, string>): void {
    if (this.token === (refused.authorization ?? '')) this.token = undefined
  }

  private fresh(): Promise<string> {
    this.pending ??= this.authenticate().finally(() => (this.pending = undefined))
    return this.pending
  }

  private async authenticate(): Promise<string> {
    let r
    try {
      r = await this.post('/v3/auth/authenticate', { name: this.creds.username, password: this.creds.password }, {})
    } catch (e) {
      const m = (e as Error).message
      if (/authentication failed|invalid user ID or password/.test(m)) {
        throw new AuthError(
          `etcd authentication as user "${this.creds.username}" failed: ${m.replace(/^etcd \/v3\/auth\/authenticate: /, '')} (check --etcd-username and --etcd-password)`,
        )
      }
      // As clientv3 does: credentials for an etcd without auth are not an error; send no token.
      if (/authentication is not enabled/.test(m)) return (this.token = '')
      throw e
    }
    if (typeof r.token !== 'string' || !r.token) throw new AuthError('etcd /v3/auth/authenticate: no token in the answer')
    this.token = r.token
    return r.token
  }
}
