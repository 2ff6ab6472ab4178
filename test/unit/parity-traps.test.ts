// flannel's parity traps (issue 13 items 10-12), each as a pure case: etcd endpoints without a
// scheme and on unix sockets, a reservation kept a reservation, a stray positional argument.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseEndpoint } from '../../scripts/lib/registry/etcd/endpoint.ts'
import { acquireLease } from '../../scripts/lib/registry/etcd/lease-acquire.ts'
import { parseFlags, UsageError } from '../../scripts/lib/core/flags.ts'
import { parseNetworkConfig } from '../../scripts/lib/formats/net-conf.ts'
import { parseIp } from '../../scripts/lib/net/cidr.ts'
import { FakeRegistry } from '../helpers/fake-registry.ts'

test('etcd endpoint without a scheme: plaintext http, or https when TLS files are given (as clientv3)', () => {
  assert.deepEqual(parseEndpoint('10.0.0.1:2379', false), { origin: 'http://10.0.0.1:2379', secure: false, hostname: '10.0.0.1', port: '2379', basePath: '' })
  assert.equal(parseEndpoint('10.0.0.1:2379', true).origin, 'https://10.0.0.1:2379')
  assert.equal(parseEndpoint('[fd00::1]:2379', false).hostname, 'fd00::1')
  assert.equal(parseEndpoint('etcd.local', false).port, '80')
  assert.equal(parseEndpoint('http://10.0.0.1:2379', true).secure, false, 'an explicit scheme wins')
})

test('etcd endpoint unix:// and unixs://: the socket path is everything after the scheme', () => {
  assert.deepEqual(parseEndpoint('unix:///run/etcd/etcd.sock', false), {
    origin: 'unix:///run/etcd/etcd.sock',
    secure: false,
    hostname: 'localhost',
    port: '',
    socketPath: '/run/etcd/etcd.sock',
  })
  assert.equal(parseEndpoint('unix://localhost:2379', false).socketPath, 'localhost:2379')
  assert.equal(parseEndpoint('unixs:///s', false).secure, true)
})

test('etcd endpoint refused: another scheme, not a URL', () => {
  assert.throws(() => parseEndpoint('ftp://10.0.0.1', false), /invalid etcd endpoint "ftp:\/\/10.0.0.1": want http:\/\/, https:\/\/, unix:\/\/, unixs:\/\/ or host:port/)
  assert.throws(() => parseEndpoint('10.0.0.1:99999', false), /not a URL or host:port/)
  assert.throws(() => parseEndpoint('unix://', false), /invalid etcd endpoint/)
})

const P = '/coreos.com/network'
const cfg = parseNetworkConfig('{"Network":"10.5.0.0/16","SubnetMin":"10.5.1.0","SubnetMax":"10.5.4.0","Backend":{"Type":"host-gw"}}')
const attrs = { publicIp: parseIp('192.168.0.1'), backendType: 'host-gw', backendData: null }

test('a reservation (our subnet key without an etcd lease) stays a reservation: no grant, put without a lease', async () => {
  const r = new FakeRegistry()
  r.kv.set(`${P}/subnets/10.5.3.0-24`, { value: '{"PublicIP":"192.168.0.1"}', lease: '0' })
  const logs: string[] = []
  const a = await acquireLease(r, { prefix: P, cfg, attrs, log: (m) => logs.push(m) })
  assert.equal(a.subnet.text, '10.5.3.0/24')
  assert.deepEqual([a.how, a.etcdLease, a.expiresAt], ['reserved', '0', Infinity])
  assert.ok(!r.ops.some((o) => o.startsWith('grant')), r.ops.join(', '))
  assert.equal(r.kv.get(`${P}/subnets/10.5.3.0-24`)?.lease ?? '0', '0')
  assert.ok(logs.some((l) => /Found reservation \(ip: 10\.5\.3\.0\/24\) for current IP \(192\.168\.0\.1\), keeping it a reservation/.test(l)))
})

const spec = { 'ip-masq': { type: 'bool', help: '' }, iface: { type: 'list', help: '' } } as const

test('a stray positional argument is a usage error saying why (Go stops at it and drops the rest)', () => {
  assert.throws(
    () => parseFlags(['--ip-masq', 'false', '--iface=eth1'], spec, { positional: false }),
    (e: Error) =>
      e instanceof UsageError &&
      /^unexpected argument "false": no positional arguments are taken \(flannel's Go flag parsing stops at one and silently ignores every flag after it\); a boolean flag takes its value after '=': --ip-masq=false$/.test(
        e.message,
      ),
  )
  assert.throws(
    () => parseFlags(['--iface', 'eth0', 'eth1'], spec, { positional: false }),
    (e: Error) => e instanceof UsageError && /unexpected argument "eth1": no positional arguments are taken \(.*\)$/.test(e.message),
  )
  // without the option (weft-install passes the rest on), positionals are collected as before
  assert.deepEqual(parseFlags(['x'], spec)._, ['x'])
})
