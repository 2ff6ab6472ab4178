// Bad input to the weft-masq bundle: a clear message, a non-zero exit, no rule changed.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, dist, inNs, sh } from '../helpers/scope.ts'
import { NET, foreignRules, masq, nftRuleset, saveAll } from './masq-helpers.ts'

const scope = new Scope()
after(() => scope.close())
let ns = ''
let snapshot = ''
const state = () => saveAll(ns, 'nft') + saveAll(ns, 'legacy') + nftRuleset(ns)

before(() => {
  ns = scope.ns('mb')
  foreignRules(ns)
  snapshot = state()
})

function fails(args: string[], message: RegExp, path?: string): void {
  // `ip netns exec` itself needs the normal PATH; only the bundle gets the reduced one.
  const r = path ? inNs(ns, ['env', `PATH=${path}`, dist('weft-masq'), ...args, '--once']) : masq(ns, [...args, '--once'])
  assert.equal(r.code, 1, r.stderr)
  assert.match(r.stderr, message)
  assert.ok(!r.stderr.includes('    at '), 'no stack trace')
  assert.equal(state(), snapshot, 'rules changed')
}

/** A PATH holding node, bash and the given tools only. */
function pathWith(tools: string[]): string {
  const dir = scope.tmp('masqpath')
  for (const t of ['node', 'bash', ...tools]) {
    const real = sh(['bash', '-c', `command -v ${t}`]).stdout.trim()
    if (real) symlinkSync(t === 'node' ? process.execPath : real, join(dir, t))
  }
  return dir
}

test('bad input: network not a CIDR', () => {
  fails(['--network', '10.244.0.0', '--subnet', '10.244.1.0/24'], /error: --network: invalid CIDR address: "10\.244\.0\.0"/)
})

test('bad input: subnet not a CIDR', () => {
  fails(['--network', '10.244.0.0/16', '--subnet', '10.244.1.0/33'], /error: --subnet: invalid CIDR address: "10\.244\.1\.0\/33"/)
})

test('bad input: subnet outside the network', () => {
  fails(['--network', '10.244.0.0/16', '--subnet', '10.245.1.0/24'], /error: subnet 10\.245\.1\.0\/24 \(--subnet\) is not inside network 10\.244\.0\.0\/16/)
})

test('bad input: subnet.env without the needed keys', () => {
  const f = join(scope.tmp('masq'), 'subnet.env')
  writeFileSync(f, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
  fails(['--subnet-file', f], /error: .*subnet\.env is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET/)
})

test('bad input: subnet.env that does not exist', () => {
  fails(['--subnet-file', '/nonexistent/subnet.env'], /error: no --network\/--subnet given and cannot read \/nonexistent\/subnet\.env/)
})

test('bad input: missing iptables binary', () => {
  fails(NET, /error: iptables not found in PATH .*install the iptables package or use --nftables/, pathWith(['nft']))
})

test('bad input: missing nft binary in nftables mode', () => {
  fails([...NET, '--nftables'], /error: nft not found in PATH/, pathWith(['iptables', 'iptables-nft', 'iptables-nft-save', 'iptables-nft-restore']))
})

test('bad input: unknown flag exits 2 with usage hint', () => {
  const r = masq(ns, ['--bogus'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /flag provided but not defined: -bogus \(see --help\)/)
  assert.equal(state(), snapshot)
})

test('--help prints the flags and changes nothing', () => {
  const r = masq(ns, ['--help'])
  assert.equal(r.code, 0)
  assert.match(r.stdout, /^Usage: weft-masq \[flags\]/)
  for (const f of ['--ip-masq', '--iptables-resync', '--nftables', '--iptables-mode', '--cleanup', '--dry-run']) assert.ok(r.stdout.includes(f), f)
  assert.equal(state(), snapshot)
})
