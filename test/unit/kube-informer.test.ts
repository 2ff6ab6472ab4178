// The Node informer's periodic resync, as client-go's (and so flannel's, resync 5 min): the cache is
// replayed to the consumer, no list request is made (only a 410 relists). Against the API test
// double in this process on 127.0.0.1. And EVENT_QUEUE_DEPTH, read as flannel reads it.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeApiDouble, FLANNEL_USER } from '../helpers/kube-api-double.ts'
import { makeCa, makeLeaf } from '../helpers/kube-pki.ts'
import { waitFor } from '../helpers/wait.ts'
import { KubeClient } from '../../scripts/lib/registry/kube/client.ts'
import { KubePeers } from '../../scripts/lib/registry/kube/peers.ts'
import { eventQueueDepth } from '../../scripts/lib/registry/kube/flags.ts'
import { UsageError } from '../../scripts/lib/core/flags.ts'

const dir = mkdtempSync(join(tmpdir(), 'kube-informer-'))
const stop = new AbortController()
const d = new KubeApiDouble()
after(() => {
  stop.abort()
  d.server?.close()
  d.dropWatches()
  rmSync(dir, { recursive: true, force: true })
})
const P = 'flannel.alpha.coreos.com/'
const managed = (ip: string) => ({ [`${P}kube-subnet-manager`]: 'true', [`${P}backend-type`]: 'host-gw', [`${P}backend-data`]: 'null', [`${P}public-ip`]: ip })

test('the first list from the watch cache; periodic resync replays the cache and never lists; a 410 relists in pages', async () => {
  const ca = makeCa(dir)
  const srv = makeLeaf(ca, 'apiserver', { ips: ['127.0.0.1'] })
  const { readFileSync } = await import('node:fs')
  const port = await d.listen('127.0.0.1', 0, readFileSync(srv.certFile, 'utf8'), readFileSync(srv.keyFile, 'utf8'), ca.cert)
  d.tokens.set('t', FLANNEL_USER)
  for (let i = 1; i <= 3; i++) d.store.createNode({ metadata: { name: `n${i}`, annotations: managed(`192.168.0.${i}`) }, spec: { podCIDR: `10.244.${i}.0/24` } })
  const client = new KubeClient({ server: new URL(`https://127.0.0.1:${port}`), ca: ca.cert, insecure: false, token: () => 't', source: 'test' })
  const peers = new KubePeers(client, 'n1', P, { resyncMs: 50, pageSize: 2 })
  await peers.relist()
  assert.deepEqual([...peers.leases.keys()].sort(), ['node/n2/subnets/10.244.2.0-24', 'node/n3/subnets/10.244.3.0-24'])

  const changes: (string | undefined)[] = []
  const loop = peers.watchLoop(stop.signal, (ev) => changes.push(ev ? `${ev.type} ${ev.key}` : undefined))
  await waitFor('three resyncs', () => changes.filter((c) => c === undefined).length >= 3, 5000)
  d.store.createNode({ metadata: { name: 'n4', annotations: managed('192.168.0.4') }, spec: { podCIDR: '10.244.4.0/24' } })
  await waitFor('the watch event', () => changes.includes('added node/n4/subnets/10.244.4.0-24'), 5000)
  await waitFor('a resync after it', () => changes.lastIndexOf(undefined) > changes.indexOf('added node/n4/subnets/10.244.4.0-24'), 5000)

  const lists = () => d.requests.filter((r) => r.startsWith('GET /api/v1/nodes?') && !r.includes('watch=true'))
  assert.deepEqual(lists(), ['GET /api/v1/nodes?limit=2&resourceVersion=0'], 'one list, from the watch cache as client-go makes it, never again')
  assert.deepEqual(
    changes.filter((c) => c !== undefined),
    ['added node/n4/subnets/10.244.4.0-24'],
    'a resync reports no Node as changed',
  )
  assert.equal(peers.leases.size, 3)

  // History compacted while the watch was away: a 410, then a consistent list, in pages of 2.
  d.hold(true)
  d.dropWatches()
  d.store.createNode({ metadata: { name: 'n5', annotations: managed('192.168.0.5') }, spec: { podCIDR: '10.244.5.0/24' } })
  d.compact()
  d.hold(false)
  await waitFor('n5 after the relist', () => peers.leases.has('node/n5/subnets/10.244.5.0-24'), 5000)
  const relist = lists().slice(1)
  assert.equal(relist.length, 3, `5 Nodes in pages of 2: ${relist.join(', ')}`)
  assert.ok(
    relist.every((r) => !r.includes('resourceVersion=')),
    'no resourceVersion: a consistent read',
  )
  assert.match(relist[1], /continue=/)
  stop.abort()
  d.dropWatches()
  await loop
  client.close()
})

test('EVENT_QUEUE_DEPTH: read as flannel reads it (an integer; <= 0 or unset is 5000; anything else an error)', () => {
  assert.equal(eventQueueDepth({}), 5000)
  assert.equal(eventQueueDepth({ EVENT_QUEUE_DEPTH: '' }), 5000)
  assert.equal(eventQueueDepth({ EVENT_QUEUE_DEPTH: '100' }), 100)
  assert.equal(eventQueueDepth({ EVENT_QUEUE_DEPTH: '+7' }), 7)
  assert.equal(eventQueueDepth({ EVENT_QUEUE_DEPTH: '0' }), 5000)
  assert.equal(eventQueueDepth({ EVENT_QUEUE_DEPTH: '-3' }), 5000)
  for (const bad of ['5k', '1.5', ' 10', 'many'])
    assert.throws(
      () => eventQueueDepth({ EVENT_QUEUE_DEPTH: bad }),
      (e) => e instanceof UsageError && e.message === `env EVENT_QUEUE_DEPTH=${bad} format error: not an integer`,
    )
})
