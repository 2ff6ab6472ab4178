// weft-masq in nftables mode (--nftables), and the switch between modes.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { Scope, dist, must, waitFor } from '../helpers/scope.ts'
import { GOLDEN_MASQ, GOLDEN_NFT } from './masq-golden.ts'
import { NET, chainS, foreignRules, masq, nftRuleset, ok, saveAll } from './masq-helpers.ts'
import { inNs } from '../helpers/scope.ts'

const scope = new Scope()
after(() => scope.close())

const listTable = (ns: string) => inNs(ns, ['nft', 'list', 'table', 'ip', 'flannel-ipv4']).stdout

test('nft list table ip flannel-ipv4 is the golden text; running twice changes nothing', () => {
  const ns = scope.ns('mn')
  const r = ok(masq(ns, [...NET, '--nftables', '--once']))
  assert.match(r.stderr, /fully-random on/)
  assert.equal(listTable(ns), GOLDEN_NFT)
  const first = nftRuleset(ns)
  ok(masq(ns, [...NET, '--nftables', '--once']))
  assert.equal(nftRuleset(ns), first)
})

test('switching to nftables removes the iptables chains and jumps in nat AND filter (both flavours)', () => {
  const ns = scope.ns('mn')
  foreignRules(ns)
  const foreignOnly = saveAll(ns)
  ok(masq(ns, [...NET, '--once', '--iptables-mode', 'nft']))
  ok(masq(ns, [...NET, '--once', '--iptables-mode', 'legacy']))
  ok(masq(ns, [...NET, '--nftables', '--once']))
  assert.equal(saveAll(ns), foreignOnly)
  for (const fl of ['nft', 'legacy'] as const) {
    assert.deepEqual(chainS(ns, fl, 'nat', 'FLANNEL-POSTRTG'), [])
    assert.deepEqual(chainS(ns, fl, 'filter', 'FLANNEL-FWD'), [])
    assert.ok(!chainS(ns, fl, 'nat', 'POSTROUTING').includes(GOLDEN_MASQ[0]))
  }
  assert.equal(listTable(ns), GOLDEN_NFT)
  // and back: iptables mode deletes the nft table
  ok(masq(ns, [...NET, '--once']))
  assert.equal(inNs(ns, ['nft', 'list', 'table', 'ip', 'flannel-ipv4']).code, 1)
})

test('nft resync: a chain flushed by hand is back within one period', async () => {
  const ns = scope.ns('mn')
  const p = scope.spawn([dist('weft-masq'), ...NET, '--nftables', '--iptables-resync', '1'], { netns: ns })
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('rules in place', () => log.includes('rules in place'), 10000)
  must(['ip', 'netns', 'exec', ns, 'nft', 'flush', 'chain', 'ip', 'flannel-ipv4', 'forward'])
  await waitFor('table back', () => listTable(ns) === GOLDEN_NFT, 3000)
  assert.match(log, /nft ip flannel-ipv4: missing: ip saddr 10\.244\.0\.0\/16 accept/)
  must(['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'flannel-ipv4'])
  await waitFor('table back after delete', () => listTable(ns) === GOLDEN_NFT, 3000)
  assert.match(log, /missing table ip flannel-ipv4/)
})

test('nft recycling: the table is replaced whole', () => {
  const ns = scope.ns('mn')
  ok(masq(ns, ['--network', '10.50.0.0/16', '--subnet', '10.50.7.0/24', '--nftables', '--once']))
  ok(masq(ns, [...NET, '--nftables', '--once', '--prev-network', '10.50.0.0/16', '--prev-subnet', '10.50.7.0/24']))
  assert.equal(listTable(ns), GOLDEN_NFT)
})

test('nft --cleanup leaves nft list ruleset as it was before', () => {
  const ns = scope.ns('mn')
  must(['ip', 'netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table inet other { chain c { type filter hook forward priority 0; ip saddr 1.2.3.4 drop\n }\n }\n' })
  foreignRules(ns)
  const before = nftRuleset(ns)
  ok(masq(ns, [...NET, '--nftables', '--once']))
  assert.notEqual(nftRuleset(ns), before)
  ok(masq(ns, ['--cleanup']))
  assert.equal(nftRuleset(ns), before)
})

test('--dry-run in nft mode prints one nft -f - transaction and changes nothing', () => {
  const ns = scope.ns('mn')
  const before = nftRuleset(ns)
  const r = ok(masq(ns, [...NET, '--nftables', '--dry-run']))
  assert.match(r.stdout, /^nft -f - <<'EOF'\ntable ip flannel-ipv4 \{\}\ndelete table ip flannel-ipv4\ntable ip flannel-ipv4 \{\n/)
  assert.equal(r.stdout.match(/^nft /gm)!.length, 1)
  assert.equal(nftRuleset(ns), before)
})
