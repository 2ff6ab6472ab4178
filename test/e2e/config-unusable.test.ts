// A config weft cannot run makes the parts wait, not ready, one line per change, and nothing is
// written (no lease, no subnet.env) until it is fixed (issue 13 item 5). Real etcd, dist bundles.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, waitFor, dist } from '../helpers/scope.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'

const scope = new Scope()
let etcd: Etcd
before(async () => {
  etcd = await startEtcd(scope)
})
after(() => scope.close())

const steps: [string, string, string][] = [
  ['Backend omitted (flannel: udp)', '{"Network":"10.244.0.0/16"}', 'backend type "udp" (no Backend given: flannel then uses udp) is not supported by weft'],
  ['wireguard', '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}', 'backend type "wireguard" is not supported by weft'],
  ['ipip', '{"Network":"10.244.0.0/16","Backend":{"Type":"ipip"}}', 'backend type "ipip" is not supported by weft'],
  ['Network 0.0.0.0/0', '{"Network":"0.0.0.0/0","SubnetLen":24,"Backend":{"Type":"host-gw"}}', 'Network 0.0.0.0/0 is every address'],
  ['Network loopback', '{"Network":"127.0.0.0/16","Backend":{"Type":"host-gw"}}', 'overlaps 127.0.0.0/8 (loopback)'],
  ['Network multicast', '{"Network":"224.0.0.0/16","Backend":{"Type":"host-gw"}}', 'overlaps 224.0.0.0/4 (multicast)'],
  ['Network link-local', '{"Network":"169.254.0.0/16","Backend":{"Type":"host-gw"}}', 'overlaps 169.254.0.0/16 (link-local)'],
  ['IPv6-only', '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd44::/56","Backend":{"Type":"host-gw"}}', 'IPv6-only (EnableIPv4 false) is not supported by weft yet'],
  ['vxlan VNI -1', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":-1}}', 'Backend.VNI must be an integer from 0 to 16777215, got -1'],
  ['vxlan Port 99999', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","Port":99999}}', 'Backend.Port must be an integer from 0 to 65535, got 99999'],
  ['vxlan MTU -1', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":-1}}', 'Backend.MTU must be an integer from 68 to 65535, got -1'],
]

test('weft-subnet waits through each unusable config, saying so once, writing nothing; then works once it is fixed', { timeout: 120_000 }, async () => {
  const p = `/weft-unusable-${process.pid}/network`
  const file = join(scope.tmp(), 'subnet.env')
  const put = (cfg: string) => assert.equal(etcdctl(etcd.endpoint, ['put', `${p}/config`, cfg]).code, 0)
  put(steps[0][1])
  const w = scope.spawn(['node', dist('weft-subnet'), `--etcd-endpoints=${etcd.endpoint}`, `--etcd-prefix=${p}`, '--public-ip=192.168.60.1', '--mtu=1500', `--subnet-file=${file}`])
  let stderr = ''
  let stdout = ''
  let exited: number | null | undefined
  w.stderr!.on('data', (d) => (stderr += d))
  w.stdout!.on('data', (d) => (stdout += d))
  w.once('exit', (c) => (exited = c))
  const count = (s: string) => stderr.split(s).length - 1
  for (const [name, cfg, msg] of steps) {
    if (cfg !== steps[0][1]) put(cfg)
    await waitFor(`the message for ${name}`, () => count(msg) > 0, 20000)
    assert.equal(exited, undefined, `weft-subnet exited on ${name}: ${stderr}`)
    assert.equal(etcdctl(etcd.endpoint, ['get', '--prefix', `${p}/subnets/`, '--keys-only']).stdout.trim(), '', `a lease was written for ${name}`)
    assert.ok(!existsSync(file), `subnet.env was written for ${name}`)
    assert.equal(stdout, '', 'a subnet-written line')
  }
  // one line per change (the 30 s reminder aside, which this test is far shorter than)
  for (const [name, , msg] of steps) assert.equal(count(msg), 1, `${name}: ${count(msg)} lines`)
  put('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
  await waitFor('subnet-written once the config works', () => stdout.includes('"subnet-written"'), 20000)
  assert.match(readFileSync(file, 'utf8'), /^FLANNEL_NETWORK=10\.244\.0\.0\/16\n/)
})
