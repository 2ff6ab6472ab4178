import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr } from '../../scripts/lib/net/cidr.ts'
import { deleteScript, ourTables, probeScript, replaceScript, tableBody } from '../../scripts/lib/masq/nft.ts'
import { listingDiff } from '../../scripts/lib/masq/nftctl.ts'
import { GOLDEN_NFT } from '../e2e/masq-golden.ts'

const v4 = { family: 4 as const, cluster: parseCidr('10.244.0.0/16'), pod: parseCidr('10.244.1.1/24') }
const v6 = { family: 6 as const, cluster: parseCidr('fd00:42::/56'), pod: parseCidr('fd00:42:0:1::/64') }
const on = { ipMasq: true, forward: true, randomFully: true }

test('table text is flannel golden (modulo nft printing the mark as 0x00004000 and a blank line)', () => {
  const printed = GOLDEN_NFT.replace('0x00004000', '0x4000').replace('\n\n', '\n')
  assert.equal(tableBody(v4, on), printed)
})

test('rule 4 keeps flannel nft form saddr != pod', () => {
  assert.match(tableBody(v4, on), /\tip saddr != 10\.244\.1\.0\/24 ip daddr 10\.244\.0\.0\/16 return\n/)
})

test('IPv6 table: ip6 family, flannel-ipv6, ff00::/8', () => {
  const t = tableBody(v6, on)
  assert.match(t, /^table ip6 flannel-ipv6 \{\n\tcomment "rules for flannel-ipv6"\n/)
  assert.match(t, /ip6 saddr fd00:42::\/56 ip6 daddr != ff00::\/8 masquerade fully-random/)
})

test('switches drop chains and fully-random', () => {
  const t = tableBody(v4, { ipMasq: false, forward: true, randomFully: false })
  assert.ok(!t.includes('postrtg'))
  assert.ok(t.includes('chain forward'))
  assert.ok(!tableBody(v4, { ...on, randomFully: false }).includes('fully-random'))
})

test('replace script: create-if-missing, delete, define, in one transaction; stale families deleted', () => {
  const s = replaceScript([v4], on, [6])
  assert.ok(s.startsWith('table ip flannel-ipv4 {}\ndelete table ip flannel-ipv4\ntable ip flannel-ipv4 {\n'))
  assert.ok(s.endsWith('}\ndelete table ip6 flannel-ipv6\n'))
})

test('delete script, probe script and table listing parser', () => {
  assert.equal(deleteScript([4, 6]), 'delete table ip flannel-ipv4\ndelete table ip6 flannel-ipv6\n')
  assert.equal(deleteScript([]), '')
  assert.match(probeScript(4), /masqueradeTest .*\nadd rule ip flannel-ipv4 masqueradeTest masquerade fully-random\n$/)
  assert.deepEqual(ourTables('table ip nat\ntable ip flannel-ipv4\ntable inet flannel-ipv4\ntable ip6 flannel-ipv6\n'), [4, 6])
})

test('listingDiff names missing and unexpected lines', () => {
  const have = GOLDEN_NFT.replace('\t\tip daddr 10.244.0.0/16 accept\n', '\t\tip daddr 10.9.0.0/16 drop\n')
  assert.deepEqual(listingDiff(4, GOLDEN_NFT, have), ['nft ip flannel-ipv4: missing: ip daddr 10.244.0.0/16 accept', 'nft ip flannel-ipv4: unexpected: ip daddr 10.9.0.0/16 drop'])
  assert.deepEqual(listingDiff(4, GOLDEN_NFT, undefined), ['missing table ip flannel-ipv4'])
  assert.deepEqual(listingDiff(4, GOLDEN_NFT, GOLDEN_NFT), [])
})

test("listingDiff compares the planned body with nft's listing (the doctor's desired): equal; a flushed chain and a moved rule are named", () => {
  // nft lists the mark as 0x00004000 and puts a blank line between chains: neither is a difference.
  assert.deepEqual(listingDiff(4, tableBody(v4, on), GOLDEN_NFT), [])
  const flushed = GOLDEN_NFT.replace(/\t\tmeta mark[\s\S]*?fully-random\n\t\tip saddr != [^\n]*\n/, '')
  assert.deepEqual(listingDiff(4, tableBody(v4, on), flushed), [
    'nft ip flannel-ipv4: missing: meta mark 0x4000 return',
    'nft ip flannel-ipv4: missing: ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
    'nft ip flannel-ipv4: missing: ip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
    'nft ip flannel-ipv4: missing: ip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
    'nft ip flannel-ipv4: missing: ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
    'nft ip flannel-ipv4: missing: ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
  ])
  const moved = GOLDEN_NFT.replace('\t\tmeta mark 0x00004000 return\n', '').replace('masquerade fully-random\n\t}', 'masquerade fully-random\n\t\tmeta mark 0x00004000 return\n\t}')
  assert.deepEqual(listingDiff(4, tableBody(v4, on), moved), [
    'nft ip flannel-ipv4: rules out of order: "ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return" where "meta mark 0x4000 return" belongs',
  ])
})
