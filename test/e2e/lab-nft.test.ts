// The lab with EnableNFTables: flanneld passes it to the masquerade installer, which programs
// flannel's nftables table instead of iptables chains.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { Lab, OUTSIDE_IP } from '../../scripts/lib/lab/lab.ts'
import { run } from '../../scripts/lib/core/sh.ts'
import { root } from '../helpers/scope.ts'
import { untilPrinted } from '../helpers/wait.ts'

const lab = new Lab({ dist: join(root, 'dist'), nftables: true })
before(async () => {
  await lab.cluster(2)
})
after(async () => {
  await lab.down()
})

test('EnableNFTables: the node holds table ip flannel-ipv4 and no FLANNEL-POSTRTG chain', async () => {
  const n = lab.nodes[0]
  const pod = lab.subnetOf(n).replace(/\.1\//, '.0/')
  await lab.until('the nft table', async () => (await run(['ip', 'netns', 'exec', n.ns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4'], { nothrow: true })).code === 0, 10000)
  const table = (await run(['ip', 'netns', 'exec', n.ns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4'])).stdout
  assert.match(table, new RegExp(`ip saddr ${pod.replace(/\./g, '\\.')} ip daddr 10\\.244\\.0\\.0/16 return`))
  assert.match(table, /ip saddr 10\.244\.0\.0\/16 ip daddr != 224\.0\.0\.0\/4 masquerade fully-random/)
  const chains = (await run(['ip', 'netns', 'exec', n.ns, 'iptables-save', '-t', 'nat'], { nothrow: true })).stdout
  assert.doesNotMatch(chains, /FLANNEL-POSTRTG/)
})

test("flanneld --dry-run prints every part's plan and changes nothing (no lease, file, rule or route)", async () => {
  const n = await lab.addNode()
  const leasesBefore = (await lab.etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets'])).stdout
  const routesBefore = (await run(['ip', '-n', n.ns, 'route', 'show'])).stdout
  const r = await run([
    'ip',
    'netns',
    'exec',
    n.ns,
    process.execPath,
    join(root, 'dist', 'flanneld'),
    `--etcd-endpoints=${lab.endpoint}`,
    `--subnet-file=${n.subnetFile}`,
    '--ip-masq',
    '--dry-run',
  ])
  assert.match(r.stdout, /^# weft-subnet --dry-run\n/)
  assert.match(r.stdout, /etcdctl txn <<'EOF'\n/)
  assert.match(r.stdout, new RegExp(`cat > ${n.subnetFile} <<'EOF'\nFLANNEL_NETWORK=10\\.244\\.0\\.0/16\nFLANNEL_SUBNET=10\\.244\\.\\d+\\.1/24\n`))
  assert.match(r.stdout, /# weft-masq --dry-run\n[^#]*table ip flannel-ipv4/)
  assert.match(r.stdout, /# weft-routes --dry-run\n[^#]*route replace 10\.244\.\d+\.0\/24 via 192\.168\.77\.1[12] dev eth0/)
  assert.equal((await lab.etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets'])).stdout, leasesBefore, 'no lease taken')
  assert.equal(existsSync(n.subnetFile), false, 'no subnet.env')
  assert.equal((await run(['ip', '-n', n.ns, 'route', 'show'])).stdout, routesBefore, 'no route')
  assert.equal((await run(['ip', 'netns', 'exec', n.ns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4'], { nothrow: true })).code, 1, 'no nft table')
})

test('EnableNFTables: a pod reaches the outside host from its node address, another pod from its own', async () => {
  const [a, b] = lab.pods
  const out = lab.startWhoAmI(lab.out, OUTSIDE_IP)
  const srv = lab.startWhoAmI(b.ns, b.ip)
  await Promise.all([untilPrinted(out, 'up'), untilPrinted(srv, 'up')])
  assert.equal(await lab.sourceSeen(a.ns, OUTSIDE_IP), a.node.ip)
  assert.equal(await lab.sourceSeen(a.ns, b.ip), a.ip)
  out.kill()
  srv.kill()
})
