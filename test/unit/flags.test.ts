import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseFlags, UsageError } from '../../scripts/lib/core/flags.ts'

const spec = {
  'etcd-endpoints': { type: 'string', default: 'http://127.0.0.1:2379', help: '' },
  iface: { type: 'list', help: '' },
  'ip-masq': { type: 'bool', help: '' },
  'iptables-forward-rules': { type: 'bool', default: true, help: '' },
  'healthz-port': { type: 'int', default: 0, help: '' },
} as const

test('go-style flags: -x, --x, --x=v, --x v, repeated lists, bool=false', () => {
  const f = parseFlags(['-iface', 'eth0', '--iface=10.0.0.1', '--ip-masq', '--iptables-forward-rules=false', '--healthz-port', '8081', 'rest'], spec)
  assert.deepEqual(f.iface, ['eth0', '10.0.0.1'])
  assert.equal(f['ip-masq'], true)
  assert.equal(f['iptables-forward-rules'], false)
  assert.equal(f['healthz-port'], 8081)
  assert.equal(f['etcd-endpoints'], 'http://127.0.0.1:2379')
  assert.deepEqual(f._, ['rest'])
})

test('FLANNELD_* environment fills flags not on the command line; the command line wins', () => {
  const env = { FLANNELD_ETCD_ENDPOINTS: 'http://e:2379', FLANNELD_IP_MASQ: 'true', FLANNELD_HEALTHZ_PORT: '9', FLANNELD_IFACE: 'a,b' }
  const f = parseFlags(['--healthz-port=1'], spec, { envPrefix: 'FLANNELD_', env })
  assert.equal(f['etcd-endpoints'], 'http://e:2379')
  assert.equal(f['ip-masq'], true)
  assert.equal(f['healthz-port'], 1)
  assert.deepEqual(f.iface, ['a', 'b'])
})

test('unknown flag, missing argument, bad int and bad bool are usage errors', () => {
  assert.throws(
    () => parseFlags(['--nope'], spec),
    (e: Error) => e instanceof UsageError && /not defined: -nope/.test(e.message),
  )
  assert.throws(() => parseFlags(['--healthz-port'], spec), /needs an argument/)
  assert.throws(() => parseFlags(['--healthz-port=x'], spec), /invalid integer/)
  assert.throws(() => parseFlags(['--ip-masq=maybe'], spec), /invalid boolean/)
})
