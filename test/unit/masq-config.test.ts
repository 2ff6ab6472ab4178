import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../../scripts/lib/masq/config.ts'
import { parseVersion } from '../../scripts/lib/masq/iptables-flavour.ts'

const noFile = (p: string): string => {
  throw new Error(`ENOENT: no such file or directory, open '${p}'`)
}
const file = (text: string) => () => text
const load = (argv: string[], read = noFile, env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env, read)

test('flags give the families; subnet host bits are masked', () => {
  const c = load(['--network', '10.244.0.0/16', '--subnet', '10.244.1.1/24'])
  assert.equal(c.families.length, 1)
  assert.equal(c.families[0].pod.text, '10.244.1.0/24')
  assert.equal(c.ipMasq, true)
  assert.equal(c.forward, true)
  assert.equal(c.resyncSeconds, 5)
})

test('subnet.env gives both families and FLANNEL_IPMASQ decides ip-masq', () => {
  const env =
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:42::/56\nFLANNEL_IPV6_SUBNET=fd00:42:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n'
  const c = load(['--subnet-file', '/x/subnet.env'], file(env))
  assert.deepEqual(
    c.families.map((f) => `${f.cluster.text} ${f.pod.text}`),
    ['10.244.0.0/16 10.244.1.0/24', 'fd00:42::/56 fd00:42:0:1::/64'],
  )
  assert.equal(c.ipMasq, false)
  assert.equal(load(['--subnet-file', '/x', '--ip-masq'], file(env)).ipMasq, true)
  assert.equal(c.source, '/x/subnet.env')
})

test('FLANNELD_ environment fallbacks', () => {
  const c = load([], noFile, { FLANNELD_NETWORK: '10.244.0.0/16', FLANNELD_SUBNET: '10.244.3.0/24', FLANNELD_IP_MASQ: 'false', FLANNELD_IPTABLES_RESYNC: '1' })
  assert.equal(c.families[0].pod.text, '10.244.3.0/24')
  assert.equal(c.ipMasq, false)
  assert.equal(c.resyncSeconds, 1)
})

test('bad input: network is not a CIDR', () => {
  assert.throws(() => load(['--network', '10.244.0.0', '--subnet', '10.244.1.0/24']), /--network: invalid CIDR address: "10\.244\.0\.0"/)
  assert.throws(() => load(['--network', '10.244.0.0/16; rm -rf /', '--subnet', '10.244.1.0/24']), /--network: invalid CIDR/)
})

test('bad input: subnet is not a CIDR', () => {
  assert.throws(() => load(['--network', '10.244.0.0/16', '--subnet', 'banana']), /--subnet: invalid CIDR address: "banana"/)
})

test('bad input: subnet outside the network', () => {
  assert.throws(
    () => load(['--network', '10.244.0.0/16', '--subnet', '10.245.1.0/24']),
    /subnet 10\.245\.1\.0\/24 \(--subnet\) is not inside network 10\.244\.0\.0\/16 \(--network\)/,
  )
  assert.throws(() => load(['--network', '10.244.0.0/16', '--subnet', '10.0.0.0/8']), /is not inside network/)
})

test('bad input: IPv6 value for an IPv4 flag', () => {
  assert.throws(() => load(['--network', 'fd00::/56', '--subnet', 'fd00::/64']), /--network: fd00::\/56 is not an IPv4 CIDR/)
})

test('bad input: network without subnet', () => {
  assert.throws(() => load(['--network', '10.244.0.0/16']), /--subnet is needed with --network/)
})

test('bad input: subnet.env without the needed keys', () => {
  assert.throws(
    () => load(['--subnet-file', '/r/subnet.env'], file('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')),
    /\/r\/subnet\.env is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET/,
  )
  assert.throws(
    () => load(['--subnet-file', '/r/subnet.env'], file('FLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')),
    /is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK/,
  )
  assert.throws(
    () => load(['--subnet-file', '/r/subnet.env'], file('FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')),
    /FLANNEL_NETWORK is needed with .*FLANNEL_SUBNET|FLANNEL_IPV6_SUBNET is needed/,
  )
})

test('bad input: subnet.env missing altogether', () => {
  assert.throws(() => load(['--subnet-file', '/nope/subnet.env']), /no --network\/--subnet given and cannot read \/nope\/subnet\.env: ENOENT/)
})

test('bad input: subnet.env with the subnet outside the network', () => {
  assert.throws(
    () => load(['--subnet-file', '/r/s.env'], file('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.9.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')),
    /subnet 10\.9\.1\.0\/24 \(\/r\/s\.env: FLANNEL_SUBNET\) is not inside network/,
  )
})

test('bad flags: iptables-mode and resync period', () => {
  assert.throws(() => load(['--iptables-mode', 'xtables']), /--iptables-mode must be auto, nft or legacy/)
  assert.throws(() => load(['--iptables-resync', '0']), /at least 1 second/)
})

test('cleanup needs no network', () => {
  assert.equal(load(['--cleanup']).cleanup, true)
})

test('iptables version parsing: flavour and the 1.6.2 threshold', () => {
  assert.deepEqual(parseVersion('iptables v1.8.9 (nf_tables)'), { version: '1.8.9', flavour: 'nft', modern: true })
  assert.deepEqual(parseVersion('iptables v1.8.9 (legacy)'), { version: '1.8.9', flavour: 'legacy', modern: true })
  assert.equal(parseVersion('iptables v1.6.1')!.modern, false)
  assert.equal(parseVersion('iptables v1.6.2')!.modern, true)
  assert.equal(parseVersion('garbage'), undefined)
})
