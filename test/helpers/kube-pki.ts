// Certificates for the Kubernetes API test double, made with the openssl CLI (as kubeadm's
// `certs` phase would): a CA, a server certificate for 127.0.0.1 / an address in a test
// namespace, and client certificates whose CN is the user and O the group (kube's x509 authn).
// Used by the tests and by `weft-lab --kube` (so no import of scope.ts, which a bundle cannot load).
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

function must(argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr || r.error?.message}`)
}

export interface Ca {
  dir: string
  certFile: string
  keyFile: string
  cert: string
}

export function makeCa(dir: string, name = 'weft-test-ca'): Ca {
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  must([
    'openssl',
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ])
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8') }
}

/**
 * A leaf signed by ca: server (SANs = ips) or client (CN = user, O = group). alsoClient: a server
 * certificate good for clientAuth too (etcd's HTTP gateway dials its own gRPC side with it).
 */
export function makeLeaf(
  ca: Ca,
  name: string,
  o: { ips?: string[]; user?: string; group?: string; alsoClient?: boolean },
): { cert: string; key: string; certFile: string; keyFile: string } {
  const keyFile = join(ca.dir, `${name}.key`)
  const csr = join(ca.dir, `${name}.csr`)
  const certFile = join(ca.dir, `${name}.crt`)
  const ext = join(ca.dir, `${name}.ext`)
  const subj = o.user ? `/O=${o.group ?? 'weft'}/CN=${o.user}` : `/CN=${name}`
  must(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', subj])
  writeFileSync(
    ext,
    o.ips
      ? `subjectAltName=${['DNS:localhost', ...o.ips.map((i) => `IP:${i}`)].join(',')}\nextendedKeyUsage=serverAuth${o.alsoClient ? ',clientAuth' : ''}\n`
      : 'extendedKeyUsage=clientAuth\n',
  )
  must(['openssl', 'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext])
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile }
}
