// One --etcd-endpoints entry, read as etcd's Go client reads it (issue 13 item 10): flannel's users
// write `10.0.0.1:2379` (no scheme; etcdctl and clientv3 take it, plaintext unless TLS files are
// given), `http(s)://host:port`, or `unix://<socket path>` / `unixs://` (a local etcd on a socket;
// the path is everything after the scheme, relative paths as etcd's own unix listener names them).
export interface Endpoint {
  /** what logs and errors show, e.g. http://10.0.0.1:2379 or unix:///run/etcd.sock */
  origin: string
  secure: boolean
  hostname: string
  port: string
  /** a path prefix given in the URL (kept, as before) */
  basePath?: string
  /** set for unix:// endpoints: requests go to this socket file */
  socketPath?: string
}

export function parseEndpoint(raw: string, tls: boolean): Endpoint {
  const s = raw.trim()
  const bad = (why: string) => new Error(`invalid etcd endpoint ${JSON.stringify(raw)}: ${why}`)
  const unix = /^(unixs?):\/\/(.+)$/.exec(s)
  if (unix) {
    if (unix[2].includes('\0')) throw bad('NUL in the socket path')
    return { origin: s, secure: unix[1] === 'unixs', hostname: 'localhost', port: '', socketPath: unix[2] }
  }
  // No scheme: host:port, [v6]:port or a bare host, as the Go client takes it.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `${tls ? 'https' : 'http'}://${s}`
  let u: URL
  try {
    u = new URL(withScheme)
  } catch {
    throw bad('not a URL or host:port')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad('want http://, https://, unix://, unixs:// or host:port')
  const secure = u.protocol === 'https:'
  return { origin: u.origin, secure, hostname: u.hostname.replace(/^\[|\]$/g, ''), port: u.port || (secure ? '443' : '80'), basePath: u.pathname.replace(/\/+$/, '') }
}
