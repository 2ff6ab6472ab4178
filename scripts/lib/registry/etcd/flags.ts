// flanneld's etcd flags, shared by every part that talks to the registry, and the client they
// describe. Names and defaults are flanneld's, so FLANNELD_ETCD_* variables work everywhere.
import { EtcdClient } from './client.ts'
import { renderFlags, type FlagSpec } from '../../core/flags.ts'

export const ETCD_FLAGS = {
  'etcd-endpoints': { type: 'string', default: 'http://127.0.0.1:4001,http://127.0.0.1:2379', help: 'a comma-delimited list of etcd endpoints', arg: 'urls' },
  'etcd-prefix': { type: 'string', default: '/coreos.com/network', help: 'etcd prefix', arg: 'path' },
  'etcd-cafile': { type: 'string', help: 'SSL Certificate Authority file used to secure etcd communication', arg: 'file' },
  'etcd-certfile': { type: 'string', help: 'SSL certification file used to secure etcd communication', arg: 'file' },
  'etcd-keyfile': { type: 'string', help: 'SSL key file used to secure etcd communication', arg: 'file' },
  'etcd-username': { type: 'string', help: 'username for BasicAuth to etcd', arg: 'name' },
  'etcd-password': { type: 'string', help: 'password for BasicAuth to etcd (better: FLANNELD_ETCD_PASSWORD, not shown by ps)', arg: 'password' },
} as const satisfies FlagSpec

export interface EtcdFlagValues {
  'etcd-endpoints': string
  'etcd-prefix': string
  'etcd-cafile': string
  'etcd-certfile': string
  'etcd-keyfile': string
  'etcd-username': string
  'etcd-password': string
}

/** The variable a child part reads its etcd password from (flags.ts's FLANNELD_ fallback). */
export const PASSWORD_ENV = 'FLANNELD_ETCD_PASSWORD'

export function etcdFromFlags(f: EtcdFlagValues): EtcdClient {
  if (f['etcd-password'] && !f['etcd-username']) throw new Error('--etcd-password needs --etcd-username')
  return new EtcdClient({
    endpoints: f['etcd-endpoints']
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    cafile: f['etcd-cafile'] || undefined,
    certfile: f['etcd-certfile'] || undefined,
    keyfile: f['etcd-keyfile'] || undefined,
    username: f['etcd-username'] || undefined,
    password: f['etcd-password'] || undefined,
  })
}

/**
 * The same flags, to pass on to a child part, without the password: argv is visible in ps and
 * /proc/<pid>/cmdline to every user. The password travels in the environment (etcdChildEnv).
 */
export function etcdArgs(f: EtcdFlagValues): string[] {
  const given = (k: keyof EtcdFlagValues) => f[k] || undefined
  return renderFlags(ETCD_FLAGS, {
    'etcd-endpoints': f['etcd-endpoints'],
    'etcd-prefix': f['etcd-prefix'],
    'etcd-keyfile': given('etcd-keyfile'),
    'etcd-certfile': given('etcd-certfile'),
    'etcd-cafile': given('etcd-cafile'),
    'etcd-username': given('etcd-username'),
  })
}

/** What a child part needs in its environment: FLANNELD_ETCD_PASSWORD, read as --etcd-password
 * (/proc/<pid>/environ is readable by the owner only). */
export function etcdChildEnv(f: EtcdFlagValues): Record<string, string> {
  return f['etcd-password'] ? { [PASSWORD_ENV]: f['etcd-password'] } : {}
}
