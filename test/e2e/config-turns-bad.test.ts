// A network config that turns bad while the node runs (issue 13 item 5, the running half): each
// change is said once, /readyz answers 503 naming it, the lease, subnet.env, peer route and
// masquerade rules all stay, flanneld keeps running; the fixed config makes the node ready again.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Scope, dist, must, waitFor, inNs } from '../helpers/scope.ts'
import { holdsFor } from '../helpers/wait.ts'
import { startEtcd, etcdctl } from '../helpers/etcd.ts'
import { probe, readyz } from '../../scripts/lib/lab/probe.ts'

const scope = new Scope()
after(() => scope.close())

const GOOD = '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'
const PEER = '10.244.2.0/24 via 192.168.95.2'
const steps: [string, string, string][] = [
  ['unsupported backend', '{"Network":"10.244.0.0/16","Backend":{"Type":"wireguard"}}', 'backend type "wireguard" is not supported by weft'],
  ['unusable Network', '{"Network":"127.0.0.0/16","Backend":{"Type":"host-gw"}}', 'Network 127.0.0.0/16 overlaps 127.0.0.0/8 (loopback)'],
  ['bad vxlan value', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":-1}}', 'Backend.VNI must be an integer from 0 to 16777215, got -1'],
  ['not JSON', '{"Network":', 'invalid network config: not JSON'],
  ['a valid but different config', '{"Network":"10.245.0.0/16","Backend":{"Type":"host-gw"}}', 'the network config changed (Network 10.244.0.0/16 -> 10.245.0.0/16)'],
]

test('a config that turns bad while running: said once per change, 503 with the reason, nothing torn down, ready again once fixed', { timeout: 240_000 }, async () => {
  const ns = scope.ns('cb')
  must(['ip', '-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'])
  must(['ip', '-n', ns, 'addr', 'add', '192.168.95.1/24', 'dev', 'd0'])
  for (const d of ['d0', 'd1']) must(['ip', '-n', ns, 'link', 'set', d, 'up'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  const put = (k: string, v: string) => assert.equal(etcdctl(etcd.endpoint, ['put', k, v], { netns: ns }).code, 0)
  put('/coreos.com/network/config', GOOD)
  put('/coreos.com/network/subnets/10.244.2.0-24', '{"PublicIP":"192.168.95.2","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}')
  const file = `${scope.tmp()}/run/subnet.env`
  const f = scope.spawn(
    [process.execPath, dist('flanneld'), '--iface=d0', `--etcd-endpoints=${etcd.endpoint}`, `--subnet-file=${file}`, '--ip-masq', '--healthz-port=8081', '--healthz-ip=127.0.0.1'],
    // re-checked every 2 s here (weft-subnet reads FLANNELD_* like flanneld; default 5 s)
    { netns: ns, env: { ...process.env, FLANNELD_CONFIG_CHECK_INTERVAL: '2' } },
  )
  let log = ''
  let exited: number | null | undefined
  f.stderr!.on('data', (d) => (log += d))
  f.once('exit', (c) => (exited = c))
  const failWith = (e: unknown) => assert.fail(`${(e as Error).message}\n${log.split('\n').slice(-30).join('\n')}`)
  await waitFor('the node ready', async () => (await readyz(ns)).ready, 60000, 200).catch(failWith)
  const env = readFileSync(file, 'utf8')
  const leases = () => etcdctl(etcd.endpoint, ['get', '--prefix', '/coreos.com/network/subnets/'], { netns: ns }).stdout
  const leasesBefore = leases()
  const rules = () => inNs(ns, ['iptables', '-t', 'nat', '-S', 'FLANNEL-POSTRTG']).stdout
  const rulesBefore = rules()
  assert.match(rulesBefore, /MASQUERADE/)
  const routes = () => must(['ip', '-n', ns, 'route', 'show']).stdout
  const intact = () => {
    if (exited !== undefined) throw new Error(`flanneld exited ${exited}`)
    if (!routes().includes(PEER)) throw new Error(`the peer route is gone: ${routes()}`)
    if (rules() !== rulesBefore) throw new Error(`the masquerade rules changed:\n${rules()}`)
    if (readFileSync(file, 'utf8') !== env) throw new Error('subnet.env changed')
    return true
  }
  assert.ok(intact())

  for (const [name, cfg, msg] of steps) {
    put('/coreos.com/network/config', cfg)
    const r = await waitFor(
      `/readyz 503 naming the ${name}`,
      async () => {
        const r = await readyz(ns)
        return r.status === 503 && r.reason.includes(msg) && r
      },
      20000,
      200,
    ).catch(failWith)
    assert.match(r.reason, /^weft-subnet is not-ready: /)
    assert.equal((await probe(ns, '/readyz')).status, 503)
    // Over two more re-checks (every 2 s): still one line for this change, nothing torn down.
    await holdsFor(`nothing torn down with the ${name}`, intact, 5_000, 250).catch(failWith)
    const lines = log.split('\n').filter((l) => l.includes(msg) && /^\S+ weft-subnet /.test(l))
    assert.equal(lines.length, 1, `${name}: said ${lines.length} times:\n${lines.join('\n')}`)
    assert.equal(leases(), leasesBefore, `the leases changed with the ${name}`)
  }

  put('/coreos.com/network/config', GOOD)
  await waitFor('ready again once the config is fixed', async () => (await readyz(ns)).ready, 20000, 200).catch(failWith)
  assert.match(log, /the network config is back to the one this node runs: ready again/)
  assert.ok(intact())
  assert.equal(leases(), leasesBefore)
  f.kill('SIGTERM')
})
