// Where the Kubernetes API is and who we are to it, as client-go's clientcmd.BuildConfigFromFlags
// (flannel's kube.NewSubnetManager) finds it: --kubeconfig-file (its current context) with
// --kube-api-url overriding the server; only --kube-api-url: that URL, no credentials (client-go's
// DeferredLoadingClientConfig returns the overridden, non-default config before it would look at
// in-cluster files: the service account token is NOT sent; http:// is allowed there, as client-go
// allows it, e.g. `kubectl proxy`, since no credential can leak); neither: in-cluster
// (KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA).
// Everything is read and checked here, before anything is written: a missing or invalid
// kubeconfig is a ConfigError (a usage error for the entry point).
import { readFileSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseYaml, type Yaml } from './yaml.ts'

export class ConfigError extends Error {}

export interface KubeTarget {
  server: URL
  ca?: string
  insecure: boolean
  serverName?: string
  cert?: string
  key?: string
  /** the bearer token now (a token file is re-read when it changes: projected tokens rotate) */
  token(): string | undefined
  /** where the credentials came from, for the log */
  source: string
}

/** client-go reads the projected token again every minute; we check its mtime on every request. */
function tokenFile(path: string, what: string): () => string {
  let seen = { mtime: -1, size: -1, token: '' }
  const read = () => {
    const st = statSync(path)
    if (st.mtimeMs !== seen.mtime || st.size !== seen.size) seen = { mtime: st.mtimeMs, size: st.size, token: readFileSync(path, 'utf8').trim() }
    return seen.token
  }
  try {
    if (!read()) throw new ConfigError(`${what} ${path} is empty`)
  } catch (e) {
    throw e instanceof ConfigError ? e : new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`)
  }
  return () => {
    try {
      return read()
    } catch {
      return seen.token // a rotation in progress: keep the last token until the file is back
    }
  }
}

function file(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`)
  }
}

function url(s: string, what: string, plainOk = false): URL {
  let u: URL
  try {
    u = new URL(/^[a-z]+:\/\//i.test(s) ? s : `https://${s}`)
  } catch {
    throw new ConfigError(`${what} ${JSON.stringify(s)} is not a URL`)
  }
  if (u.protocol === 'http:' && plainOk) return u
  if (u.protocol !== 'https:')
    throw new ConfigError(`${what} ${u.href}: only https:// is supported with credentials (the API carries a bearer token); http:// only for --kube-api-url alone`)
  return u
}

export interface TargetOpts {
  kubeconfig?: string
  apiUrl?: string
  env?: NodeJS.ProcessEnv
  /** the service account directory (tests point it elsewhere) */
  saDir?: string
}

export function loadTarget(o: TargetOpts): KubeTarget {
  const env = o.env ?? process.env
  if (o.kubeconfig) return fromKubeconfig(o.kubeconfig, o.apiUrl)
  if (o.apiUrl)
    return {
      server: url(o.apiUrl, '--kube-api-url', true),
      insecure: false,
      token: () => undefined,
      source: `--kube-api-url ${o.apiUrl} (no kubeconfig: no credentials, system CAs)`,
    }
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  if (!host || !port)
    throw new ConfigError('unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (or give --kubeconfig-file)')
  const sa = o.saDir ?? env.WEFT_KUBE_SERVICEACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount'
  const token = tokenFile(`${sa}/token`, 'the service account token')
  return {
    server: url(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, 'KUBERNETES_SERVICE_HOST/PORT'),
    ca: file(`${sa}/ca.crt`, 'the service account CA'),
    insecure: false,
    token,
    source: `in-cluster (${sa})`,
  }
}

type M = { [k: string]: Yaml }
const isMap = (v: Yaml | undefined): v is M => typeof v === 'object' && v !== null && !Array.isArray(v)

function named(doc: M, list: string, name: string, field: string, path: string): M {
  const items = doc[list]
  const hit = Array.isArray(items) ? items.find((i) => isMap(i) && i.name === name) : undefined
  if (!isMap(hit) || !isMap(hit[field])) throw new ConfigError(`kubeconfig ${path}: no ${field} named ${JSON.stringify(name)} in ${list}`)
  return hit[field] as M
}

function fromKubeconfig(path: string, apiUrl?: string): KubeTarget {
  let doc: Yaml
  try {
    doc = parseYaml(file(path, 'kubeconfig'), `kubeconfig ${path}`)
  } catch (e) {
    throw e instanceof ConfigError ? e : new ConfigError((e as Error).message)
  }
  if (!isMap(doc)) throw new ConfigError(`kubeconfig ${path}: not a kubeconfig (a YAML mapping)`)
  const ctxName = doc['current-context']
  if (typeof ctxName !== 'string' || !ctxName) throw new ConfigError(`kubeconfig ${path}: no current-context`)
  const ctx = named(doc, 'contexts', ctxName, 'context', path)
  const cluster = named(doc, 'clusters', String(ctx.cluster ?? ''), 'cluster', path)
  const user = typeof ctx.user === 'string' && ctx.user ? named(doc, 'users', ctx.user, 'user', path) : {}
  const rel = (p: Yaml) => resolve(dirname(path), String(p))
  const b64 = (v: Yaml, what: string) => {
    const s = String(v).replace(/\s+/g, '')
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new ConfigError(`kubeconfig ${path}: ${what} is not base64`)
    return Buffer.from(s, 'base64').toString('utf8')
  }
  const pem = (dataKey: string, fileKey: string, from: M, what: string) =>
    from[dataKey] ? b64(from[dataKey], dataKey) : from[fileKey] ? file(rel(from[fileKey]), `${what} (${fileKey})`) : undefined
  const server = apiUrl || cluster.server
  if (typeof server !== 'string' || !server) throw new ConfigError(`kubeconfig ${path}: cluster ${JSON.stringify(ctx.cluster)} has no server`)
  if (user.exec || user['auth-provider'])
    throw new ConfigError(
      `kubeconfig ${path}: user ${JSON.stringify(ctx.user)} uses exec/auth-provider credentials, which weft does not run; use a token, token file or client certificate`,
    )
  const cert = pem('client-certificate-data', 'client-certificate', user, 'client certificate')
  const key = pem('client-key-data', 'client-key', user, 'client key')
  if (!!cert !== !!key) throw new ConfigError(`kubeconfig ${path}: a client certificate needs its key (and the other way round)`)
  let token: () => string | undefined = () => undefined
  if (typeof user.token === 'string' && user.token) {
    const t = user.token
    token = () => t
  } else if (user.tokenFile) token = tokenFile(rel(user.tokenFile), 'tokenFile')
  const insecure = cluster['insecure-skip-tls-verify'] === true
  const ca = pem('certificate-authority-data', 'certificate-authority', cluster, 'certificate authority')
  if (insecure && ca) throw new ConfigError(`kubeconfig ${path}: certificate-authority and insecure-skip-tls-verify together (client-go refuses this too)`)
  const serverName = typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined
  return { server: url(server, `kubeconfig ${path} server`), ca, insecure, serverName, cert, key, token, source: `kubeconfig ${path} (context ${ctxName})` }
}
