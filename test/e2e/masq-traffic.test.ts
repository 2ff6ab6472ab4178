// Real packets: a pod P behind node N talks to an outside host O (must see N's address) and to
// a pod P2 behind node N2 (must see P's own address), through each mode of weft-masq in N.
//
//   P 10.244.1.2 -- 10.244.1.1 N 192.168.200.1 -- 192.168.200.2 O   (O has no route to pods)
//                              N 192.168.100.1 -- 192.168.100.2 N2 10.244.2.1 -- 10.244.2.2 P2
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Scope, inNs, must, waitFor } from '../helpers/scope.ts'
import { NET, masq, ok } from './masq-helpers.ts'

const scope = new Scope()
after(() => scope.close())
let N = '',
  P = '',
  O = '',
  N2 = '',
  P2 = ''

function link(a: string, aIf: string, aAddr: string, b: string, bIf: string, bAddr: string): void {
  must(['ip', 'link', 'add', aIf, 'netns', a, 'type', 'veth', 'peer', 'name', bIf, 'netns', b])
  for (const [ns, ifn, addr] of [
    [a, aIf, aAddr],
    [b, bIf, bAddr],
  ]) {
    must(['ip', '-n', ns, 'addr', 'add', addr, 'dev', ifn])
    must(['ip', '-n', ns, 'link', 'set', ifn, 'up'])
  }
}

async function server(ns: string, ip: string): Promise<void> {
  const js = `require('net').createServer(c=>c.end(c.remoteAddress)).listen(8080,'${ip}',()=>console.log('ready'))`
  const p = scope.spawn(['node', '-e', js], { netns: ns })
  let out = ''
  p.stdout!.on('data', (d) => (out += d))
  await waitFor(`server ${ip}`, () => out.includes('ready'), 5000)
}

/** The address the server saw us come from, or TIMEOUT/ERR. */
function peerSeenBy(from: string, ip: string): string {
  const js = `const s=require('net').connect(8080,'${ip}');let d='';s.on('data',x=>d+=x);s.on('end',()=>console.log(d));s.on('error',e=>console.log('ERR '+e.code));s.setTimeout(1500,()=>{console.log('TIMEOUT');s.destroy()})`
  return inNs(from, ['node', '-e', js]).stdout.trim()
}

before(async () => {
  ;[N, P, O, N2, P2] = ['mN', 'mP', 'mO', 'mM', 'mQ'].map((t) => scope.ns(t))
  link(N, 'vp', '10.244.1.1/24', P, 'eth0', '10.244.1.2/24')
  link(N, 'vo', '192.168.200.1/24', O, 'eth0', '192.168.200.2/24')
  link(N, 'vn', '192.168.100.1/24', N2, 'eth0', '192.168.100.2/24')
  link(N2, 'vp', '10.244.2.1/24', P2, 'eth0', '10.244.2.2/24')
  must(['ip', '-n', P, 'route', 'add', 'default', 'via', '10.244.1.1'])
  must(['ip', '-n', P2, 'route', 'add', 'default', 'via', '10.244.2.1'])
  must(['ip', '-n', N, 'route', 'add', '10.244.2.0/24', 'via', '192.168.100.2'])
  must(['ip', '-n', N2, 'route', 'add', '10.244.1.0/24', 'via', '192.168.100.1'])
  // forwarding only inside the node namespaces, never in the root namespace
  for (const ns of [N, N2]) must(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  await server(O, '192.168.200.2')
  await server(P2, '10.244.2.2')
})

test('without rules the outside host cannot answer a pod (it has no route to pods)', () => {
  assert.equal(peerSeenBy(P, '192.168.200.2'), 'TIMEOUT')
  assert.equal(peerSeenBy(P, '10.244.2.2'), '10.244.1.2')
})

const modes: [string, string[], string | undefined][] = [
  ['iptables nf_tables flavour', ['--iptables-mode', 'nft'], 'iptables-nft'],
  ['iptables legacy flavour', ['--iptables-mode', 'legacy'], 'iptables-legacy'],
  ['nftables', ['--nftables'], undefined],
]

for (const [name, args, ipt] of modes) {
  test(`${name}: outside sees the node address, a pod on another node sees the pod address`, () => {
    // A Docker-style DROP policy: only FLANNEL-FWD lets pod traffic through.
    if (ipt) must(['ip', 'netns', 'exec', N, ipt, '-P', 'FORWARD', 'DROP'])
    try {
      if (ipt) assert.equal(peerSeenBy(P, '10.244.2.2'), 'TIMEOUT', 'DROP policy in effect')
      ok(masq(N, [...NET, ...args, '--once']))
      assert.equal(peerSeenBy(P, '192.168.200.2'), '192.168.200.1')
      assert.equal(peerSeenBy(P, '10.244.2.2'), '10.244.1.2')
      // the node's own traffic is not a pod's: not masqueraded, not blocked
      assert.equal(peerSeenBy(N, '10.244.2.2'), '192.168.100.1')
      ok(masq(N, ['--cleanup']))
      assert.equal(peerSeenBy(P, '192.168.200.2'), 'TIMEOUT', 'cleanup removed the masquerade')
    } finally {
      if (ipt) must(['ip', 'netns', 'exec', N, ipt, '-P', 'FORWARD', 'ACCEPT'])
    }
  })
}
