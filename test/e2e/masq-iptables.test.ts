// weft-masq in iptables mode, nf_tables and legacy flavours, each run in its own netns.
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Scope, inNs, must, waitFor, dist } from '../helpers/scope.ts'
import { GOLDEN_FWD, GOLDEN_MASQ } from './masq-golden.ts'
import { NET, chainS, foreignRules, masq, ok, saveAll } from './masq-helpers.ts'

const scope = new Scope()
after(() => scope.close())

const withoutJump = (g: string[]) => g.slice(1)

for (const flavour of ['nft', 'legacy'] as const) {
  describe(`iptables-${flavour}`, () => {
    test('golden -S lines for the lab network', () => {
      const ns = scope.ns('mi')
      const r = ok(masq(ns, [...NET, '--once', '--iptables-mode', flavour]))
      assert.match(r.stderr, new RegExp(`using iptables-${flavour} 1\\.8\\.\\d+ \\(${flavour === 'nft' ? 'nf_tables' : 'legacy'}\\)`))
      assert.deepEqual(chainS(ns, flavour, 'nat', 'FLANNEL-POSTRTG'), withoutJump(GOLDEN_MASQ))
      assert.deepEqual(chainS(ns, flavour, 'filter', 'FLANNEL-FWD'), withoutJump(GOLDEN_FWD))
      assert.ok(chainS(ns, flavour, 'nat', 'POSTROUTING').includes(GOLDEN_MASQ[0]))
      assert.ok(chainS(ns, flavour, 'filter', 'FORWARD').includes(GOLDEN_FWD[0]))
      // the other flavour saw nothing
      const other = flavour === 'nft' ? 'legacy' : 'nft'
      assert.deepEqual(chainS(ns, other, 'nat', 'FLANNEL-POSTRTG'), [])
    })

    test('running twice changes nothing; the jump is appended after foreign rules', () => {
      const ns = scope.ns('mi')
      foreignRules(ns, flavour)
      ok(masq(ns, [...NET, '--once', '--iptables-mode', flavour]))
      const first = saveAll(ns, flavour)
      ok(masq(ns, [...NET, '--once', '--iptables-mode', flavour]))
      assert.equal(saveAll(ns, flavour), first)
      const post = chainS(ns, flavour, 'nat', 'POSTROUTING')
      assert.equal(post[post.length - 1], GOLDEN_MASQ[0])
      assert.equal(post.filter((l) => l === GOLDEN_MASQ[0]).length, 1)
    })

    test('a rule deleted by hand is back within one resync period', async () => {
      const ns = scope.ns('mi')
      const p = scope.spawn([dist('weft-masq'), ...NET, '--iptables-resync', '1', '--iptables-mode', flavour], { netns: ns })
      let log = ''
      p.stderr!.on('data', (d) => (log += d))
      await waitFor('rules in place', () => log.includes('rules in place'), 10000)
      must(['ip', 'netns', 'exec', ns, `iptables-${flavour}`, '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '3'])
      must(['ip', 'netns', 'exec', ns, `iptables-${flavour}`, '-t', 'filter', '-D', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD'])
      // Back at the next resync (1 s here). The deadline is a few periods, not one: on a loaded
      // 2-core machine a wall-clock bound of one period fails for reasons that are not ours (the
      // repair latency is a benchmark's business, not a test's).
      await waitFor(
        'rules back',
        () => chainS(ns, flavour, 'nat', 'FLANNEL-POSTRTG').join('\n') === withoutJump(GOLDEN_MASQ).join('\n') && chainS(ns, flavour, 'filter', 'FORWARD').includes(GOLDEN_FWD[0]),
        8000,
      )
      assert.match(log, /missing: -A FLANNEL-POSTRTG -s 10\.244\.0\.0\/16 -d 10\.244\.1\.0\/24 -m comment --comment "flanneld masq" -j RETURN/)
      assert.match(log, /missing: -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD/)
      // a foreign rule slipped into our chain is noticed too (flannel's -C checks cannot see it)
      must(['ip', 'netns', 'exec', ns, `iptables-${flavour}`, '-t', 'nat', '-I', 'FLANNEL-POSTRTG', '1', '-j', 'RETURN'])
      await waitFor('foreign rule gone', () => chainS(ns, flavour, 'nat', 'FLANNEL-POSTRTG').join('\n') === withoutJump(GOLDEN_MASQ).join('\n'), 3000)
      assert.match(log, /unexpected: -A FLANNEL-POSTRTG -j RETURN/)
    })
  })
}

test('auto mode follows the flavour that already holds rules, and says so', () => {
  const ns = scope.ns('mi')
  foreignRules(ns, 'legacy')
  const r = ok(masq(ns, [...NET, '--once']))
  assert.match(r.stderr, /using iptables-legacy .*legacy tables hold more rules/)
  assert.deepEqual(chainS(ns, 'legacy', 'nat', 'FLANNEL-POSTRTG'), withoutJump(GOLDEN_MASQ))
  const ns2 = scope.ns('mi')
  const r2 = ok(masq(ns2, [...NET, '--once']))
  assert.match(r2.stderr, /using iptables-nft .*\(nf_tables\)/)
})

test('recycling: a new network/subnet replaces the old rules, nothing of the old stays', () => {
  const ns = scope.ns('mi')
  ok(masq(ns, ['--network', '10.50.0.0/16', '--subnet', '10.50.7.0/24', '--once']))
  const r = ok(masq(ns, [...NET, '--prev-network', '10.50.0.0/16', '--prev-subnet', '10.50.7.0/24', '--once']))
  assert.match(r.stderr, /recycling IPv4: network\/subnet changed \(10\.50\.0\.0\/16 10\.50\.7\.0\/24 -> 10\.244\.0\.0\/16 10\.244\.1\.0\/24\)/)
  assert.match(r.stderr, /replacing stale rules: .*unexpected: -A FLANNEL-POSTRTG -s 10\.50\.7\.0\/24/)
  assert.deepEqual(chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG'), withoutJump(GOLDEN_MASQ))
  assert.deepEqual(chainS(ns, 'nft', 'filter', 'FLANNEL-FWD'), withoutJump(GOLDEN_FWD))
  assert.ok(!saveAll(ns).includes('10.50.'))
})

test('--ip-masq=false installs only FLANNEL-FWD and removes an old FLANNEL-POSTRTG', () => {
  const ns = scope.ns('mi')
  ok(masq(ns, [...NET, '--once']))
  ok(masq(ns, [...NET, '--once', '--ip-masq=false']))
  assert.deepEqual(chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG'), [])
  assert.ok(!saveAll(ns).includes('flanneld masq'))
  assert.deepEqual(chainS(ns, 'nft', 'filter', 'FLANNEL-FWD'), withoutJump(GOLDEN_FWD))
})

test('--ip-masq-fully-random-disable drops --random-fully', () => {
  const ns = scope.ns('mi')
  ok(masq(ns, [...NET, '--once', '--ip-masq-fully-random-disable']))
  assert.deepEqual(
    chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG'),
    withoutJump(GOLDEN_MASQ).map((l) => l.replace(' --random-fully', '')),
  )
})

test('IPv6 from subnet.env: ip6tables gets the same chains with ff00::/8', () => {
  const ns = scope.ns('mi')
  const dir = scope.tmp('masq')
  const env =
    'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:42::/56\nFLANNEL_IPV6_SUBNET=fd00:42:0:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'
  must(['sh', '-c', `cat > ${dir}/subnet.env`], { input: env })
  ok(masq(ns, ['--subnet-file', `${dir}/subnet.env`, '--once']))
  assert.deepEqual(chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG'), withoutJump(GOLDEN_MASQ))
  const v6 = chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG', true)
  assert.ok(v6.includes('-A FLANNEL-POSTRTG -s fd00:42::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'), v6.join('\n'))
  assert.deepEqual(chainS(ns, 'nft', 'filter', 'FLANNEL-FWD', true).slice(1), [
    '-A FLANNEL-FWD -s fd00:42::/56 -m comment --comment "flanneld forward" -j ACCEPT',
    '-A FLANNEL-FWD -d fd00:42::/56 -m comment --comment "flanneld forward" -j ACCEPT',
  ])
  // dropping IPv6 from the config removes its chains
  ok(masq(ns, [...NET, '--once']))
  assert.deepEqual(chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG', true), [])
})

test('--dry-run prints the one restore payload and changes nothing', () => {
  const ns = scope.ns('mi')
  foreignRules(ns)
  const before = saveAll(ns)
  const r = ok(masq(ns, [...NET, '--dry-run']))
  assert.match(r.stdout, /^iptables-nft-restore --noflush --wait <<'EOF'\n\*nat\n:FLANNEL-POSTRTG - \[0:0\]\n/)
  assert.equal(r.stdout.match(/iptables-nft-restore/g)!.length, 1)
  assert.ok(r.stdout.includes(GOLDEN_MASQ[2]))
  assert.equal(saveAll(ns), before)
})

test('--cleanup leaves iptables-save as it was before (both flavours)', () => {
  const ns = scope.ns('mi')
  foreignRules(ns, 'nft')
  foreignRules(ns, 'legacy')
  const before = saveAll(ns, 'nft') + saveAll(ns, 'legacy')
  ok(masq(ns, [...NET, '--once', '--iptables-mode', 'nft']))
  ok(masq(ns, [...NET, '--once', '--iptables-mode', 'legacy']))
  assert.notEqual(saveAll(ns, 'nft') + saveAll(ns, 'legacy'), before)
  const r = ok(masq(ns, ['--cleanup']))
  assert.match(r.stderr, /removed/)
  assert.equal(saveAll(ns, 'nft') + saveAll(ns, 'legacy'), before)
  assert.match(ok(masq(ns, ['--cleanup'])).stderr, /nothing of ours to remove/)
  void inNs
})

test('running alone on subnet.env: a rewritten file (new lease) is picked up at the next resync', async () => {
  const ns = scope.ns('mi')
  const dir = scope.tmp('masq')
  const f = `${dir}/subnet.env`
  const write = (sub: string) =>
    must(['sh', '-c', `cat > ${f}.tmp && mv ${f}.tmp ${f}`], { input: `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${sub}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n` })
  write('10.244.9.1/24')
  const p = scope.spawn([dist('weft-masq'), '--subnet-file', f, '--iptables-resync', '1'], { netns: ns })
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('rules in place', () => log.includes('rules in place'), 10000)
  assert.ok(chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG').join('\n').includes('-s 10.244.9.0/24'))
  write('10.244.1.1/24')
  await waitFor('new rules', () => chainS(ns, 'nft', 'nat', 'FLANNEL-POSTRTG').join('\n') === withoutJump(GOLDEN_MASQ).join('\n'), 3000)
  assert.match(log, /recycling IPv4: network\/subnet changed \(10\.244\.0\.0\/16 10\.244\.9\.0\/24 -> 10\.244\.0\.0\/16 10\.244\.1\.0\/24\)/)
})
