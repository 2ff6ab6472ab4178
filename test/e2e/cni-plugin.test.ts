// dist/flannel as a black box with Debian's reference bridge and host-local, in namespaces.
import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync, existsSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, must } from '../helpers/scope.ts'
import { addrs, conf, ipFiles, links, makeNode, plugin, podEnv, routes } from './cni-helpers.ts'

const scope = new Scope()
after(() => scope.close())

// Debian's plugins 1.1.1 accept CNI versions up to 1.0.0.
for (const version of ['0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
  describe(`cniVersion ${version}`, () => {
    const node = makeNode(scope)
    const pod = scope.ns('cp')
    const c = conf(node, version, { ipam: { dataDir: node.ipamDir, routes: [{ dst: '10.96.0.0/12' }] } })
    let result: Record<string, any>

    test('ADD gives the pod an address in the subnet and the routes asked for', () => {
      const r = plugin(node, podEnv('ADD', 'ctr1', pod), c)
      assert.equal(r.code, 0, r.stdout + r.stderr)
      result = JSON.parse(r.stdout)
      assert.equal(result.cniVersion, version)
      assert.ok(!r.stdout.endsWith('\n'))
      assert.deepEqual(addrs(pod, 'eth0'), ['10.244.1.2/24'])
      assert.equal(result.ips[0].address, '10.244.1.2/24')
      assert.deepEqual(routes(pod), ['10.244.0.0/16 via 10.244.1.1', '10.244.1.0/24', '10.96.0.0/12 via 10.244.1.1', 'default via 10.244.1.1'])
      assert.deepEqual(ipFiles(node), ['10.244.1.2'])
      const file = join(node.dataDir, 'ctr1')
      assert.equal(statSync(node.dataDir).mode & 0o777, 0o700)
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.equal(
        readFileSync(file, 'utf8'),
        `{"cniVersion":"${version}","ipMasq":false,"ipam":{"dataDir":"${node.ipamDir}","ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.96.0.0/12"},{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}`,
      )
      // bridge made cni0 in the node netns (never in the root one)
      assert.ok(links(node.ns).includes('cni0'))
    })

    if (version >= '0.4.0') {
      test('CHECK passes with the ADD result, and fails when the pod lost its address', () => {
        const r = plugin(node, podEnv('CHECK', 'ctr1', pod), { ...c, prevResult: result })
        assert.equal(r.code, 0, r.stdout + r.stderr)
        assert.equal(r.stdout, '')
        must(['ip', '-n', pod, 'addr', 'del', '10.244.1.2/24', 'dev', 'eth0'])
        const bad = plugin(node, podEnv('CHECK', 'ctr1', pod), { ...c, prevResult: result })
        assert.notEqual(bad.code, 0)
        assert.ok(JSON.parse(bad.stdout).msg)
      })
    }

    test('DEL removes the link, the host-local IP file and the scratch file; a second DEL succeeds', () => {
      const r = plugin(node, podEnv('DEL', 'ctr1', pod), c)
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.deepEqual(links(pod), ['lo'])
      assert.deepEqual(ipFiles(node), [])
      assert.ok(!existsSync(join(node.dataDir, 'ctr1')))
      assert.deepEqual(links(node.ns), ['cni0', 'lo'])
      const again = plugin(node, podEnv('DEL', 'ctr1', pod), c)
      assert.equal(again.code, 0, again.stdout)
      assert.equal(again.stdout, '')
    })
  })
}

describe('STATUS and GC (1.1.0)', () => {
  const node = makeNode(scope, null)
  const c11 = conf(node, '1.1.0')
  const status = { CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }

  test('STATUS: code 50 while subnet.env is missing or invalid, 0 once it is valid', () => {
    let r = plugin(node, status, c11)
    assert.equal(r.code, 1)
    assert.equal(JSON.parse(r.stdout).code, 50)
    assert.match(JSON.parse(r.stdout).msg, /^flannel is not ready: failed to load flannel 'subnet.env' file: open .*: no such file or directory/)
    writeFileSync(node.subnetFile, 'FLANNEL_MTU=1450\n')
    r = plugin(node, status, c11)
    assert.equal(JSON.parse(r.stdout).code, 50)
    writeFileSync(node.subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
    r = plugin(node, status, c11)
    assert.deepEqual([r.code, r.stdout], [0, ''])
    r = plugin(node, status, conf(node, '1.0.0'))
    assert.equal(JSON.parse(r.stdout).msg, 'config version does not allow STATUS')
  })

  test('GC listing one of two attachments frees the other one address and scratch file', () => {
    const pods = [scope.ns('cg'), scope.ns('cg')]
    for (const [i, p] of pods.entries()) {
      const r = plugin(node, podEnv('ADD', `gc${i}`, p), conf(node, '1.0.0'))
      assert.equal(r.code, 0, r.stdout + r.stderr)
    }
    assert.deepEqual(ipFiles(node), ['10.244.1.2', '10.244.1.3'])
    const r = plugin(node, { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, { ...c11, 'cni.dev/valid-attachments': [{ containerID: 'gc0', ifname: 'eth0' }] })
    assert.deepEqual([r.code, r.stdout], [0, ''], r.stderr)
    assert.deepEqual(ipFiles(node), ['10.244.1.2'])
    assert.ok(existsSync(join(node.dataDir, 'gc0')))
    assert.ok(!existsSync(join(node.dataDir, 'gc1')))
    // a GC without the list removes nothing
    const none = plugin(node, { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, c11)
    assert.equal(none.code, 0)
    assert.deepEqual(ipFiles(node), ['10.244.1.2'])
  })
})

describe('a failed delegate ADD is rolled back', () => {
  test('bridge name taken by a non-bridge link: no scratch file, no IP, the delegate error unchanged', () => {
    const node = makeNode(scope)
    const pod = scope.ns('cr')
    must(['ip', '-n', node.ns, 'link', 'add', 'wtnotbr', 'type', 'veth', 'peer', 'name', 'wtnotbr1'])
    const r = plugin(node, podEnv('ADD', 'rb1', pod), conf(node, '0.3.1', { delegate: { bridge: 'wtnotbr' } }))
    assert.equal(r.code, 1)
    assert.deepEqual(JSON.parse(r.stdout), { code: 999, msg: 'failed to create bridge "wtnotbr": "wtnotbr" already exists but is not a bridge' })
    assert.ok(!existsSync(join(node.dataDir, 'rb1')))
    assert.deepEqual(ipFiles(node), [])
    assert.deepEqual(links(pod), ['lo'])
  })

  test('cni0 with another address (bridge fails after IPAM and veth): no scratch file, no IP, no veth', () => {
    const node = makeNode(scope)
    const pod = scope.ns('cr')
    must(['ip', '-n', node.ns, 'link', 'add', 'cni0', 'type', 'bridge'])
    must(['ip', '-n', node.ns, 'addr', 'add', '10.99.0.1/24', 'dev', 'cni0'])
    const r = plugin(node, podEnv('ADD', 'rb2', pod), conf(node, '1.0.0'))
    assert.equal(r.code, 1)
    assert.match(JSON.parse(r.stdout).msg, /already has an IP address different from 10\.244\.1\.1\/24/)
    assert.ok(!existsSync(join(node.dataDir, 'rb2')))
    assert.deepEqual(ipFiles(node), [])
    assert.deepEqual(links(pod), ['lo'])
    assert.deepEqual(links(node.ns), ['cni0', 'lo'])
  })

  test('ranges exhausted: the second pod fails and leaves nothing; the first is untouched', () => {
    const node = makeNode(scope, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/30\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
    const pods = [scope.ns('cr'), scope.ns('cr')]
    assert.equal(plugin(node, podEnv('ADD', 'ex1', pods[0]), conf(node, '0.4.0')).code, 0)
    const r = plugin(node, podEnv('ADD', 'ex2', pods[1]), conf(node, '0.4.0'))
    assert.equal(r.code, 1)
    assert.match(JSON.parse(r.stdout).msg, /no IP addresses available/)
    assert.ok(!existsSync(join(node.dataDir, 'ex2')))
    assert.ok(existsSync(join(node.dataDir, 'ex1')))
    assert.deepEqual(ipFiles(node), ['10.244.1.2'])
    assert.deepEqual(links(pods[1]), ['lo'])
  })
})

describe('DEL keeps the scratch file until the delegate DEL succeeded', () => {
  test('a failing delegate DEL keeps the file; a retry after the cause is fixed removes it', () => {
    const node = makeNode(scope)
    const pod = scope.ns('cd')
    assert.equal(plugin(node, podEnv('ADD', 'kd1', pod), conf(node, '0.3.1')).code, 0)
    // host-local fails to open its store while a file sits where its directory should be
    const store = join(node.ipamDir, 'cbr0')
    rmSync(store, { recursive: true })
    writeFileSync(store, 'x')
    const r = plugin(node, podEnv('DEL', 'kd1', pod), conf(node, '0.3.1'))
    assert.equal(r.code, 1, r.stdout)
    assert.ok(existsSync(join(node.dataDir, 'kd1')))
    rmSync(store)
    const again = plugin(node, podEnv('DEL', 'kd1', pod), conf(node, '0.3.1'))
    assert.equal(again.code, 0, again.stdout)
    assert.ok(!existsSync(join(node.dataDir, 'kd1')))
  })
})

describe('plain commands', () => {
  test('VERSION prints the Go lib line; no CNI_COMMAND prints the about text to stderr', () => {
    const node = makeNode(scope)
    const v = plugin(node, { CNI_COMMAND: 'VERSION' }, '')
    assert.equal(v.stdout, '{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n')
    const a = plugin(node, {}, '')
    assert.deepEqual([a.code, a.stdout], [0, ''])
    assert.match(a.stderr, /^CNI Plugin flannel version .*\nCNI protocol versions supported: 0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0\n$/)
    const u = plugin(node, { CNI_COMMAND: 'FOO' }, { name: 'n' })
    assert.deepEqual(JSON.parse(u.stdout), { code: 4, msg: 'unknown CNI_COMMAND: FOO' })
  })
})
