// A unary etcd call is bounded as a whole, body included: a reply that stalls after its headers
// (a half-dead gateway, a connection lost mid-body) must reject, or the caller waits for ever
// (weft-routes' sync loop awaits a relist; weft-subnet's renewal awaits grant + put).
// The fake server listens on 127.0.0.1, as test/helpers/etcd.ts does for the real etcd.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { EtcdClient, UnreachableError } from '../../scripts/lib/registry/etcd/client.ts'
import { activeTimers } from '../helpers/wait.ts'

async function fakeEtcd(handler: http.RequestListener): Promise<{ url: string; close: () => void }> {
  const s = http.createServer(handler)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const { port } = s.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, close: () => (s.closeAllConnections(), s.close()) }
}

// The client's timeout is generous (2 s): these are real sockets and real time, and on a loaded
// machine (2 shared cores) even a local reply's headers can take longer than a few hundred ms.
const TIMEOUT_MS = 2000

test('a reply that stalls after its headers rejects within the timeout, naming the endpoint and call', { timeout: 15_000 }, async () => {
  const srv = await fakeEtcd((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"kvs":') // and nothing more
  })
  const c = new EtcdClient({ endpoints: [srv.url], timeoutMs: TIMEOUT_MS })
  try {
    const t0 = Date.now()
    await assert.rejects(c.get('/x'), (e: Error) => {
      assert.ok(e instanceof UnreachableError, `not an UnreachableError: ${e}`)
      assert.match(e.message, new RegExp(`${srv.url}/v3/kv/range: reply timed out after ${TIMEOUT_MS} ms`))
      return true
    })
    assert.ok(Date.now() - t0 < TIMEOUT_MS + 3000, `took ${Date.now() - t0} ms`)
  } finally {
    c.close()
    srv.close()
  }
})

test('a slow but complete reply within the timeout still succeeds (and its timer does not fire later)', async () => {
  const srv = await fakeEtcd((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"header":{"revision":"7"},')
    setTimeout(() => res.end('"kvs":[]}'), 100) // allow-timer: the fake server's slow reply, not a wait
  })
  const base = activeTimers()
  const c = new EtcdClient({ endpoints: [srv.url], timeoutMs: TIMEOUT_MS })
  try {
    assert.equal(await c.get('/x'), undefined)
    const l = await c.list('/x/')
    assert.equal(l.revision, 7)
    // Both reply timers are cleared once the replies are read (not merely harmless when they fire
    // later): nothing else of this exchange holds a timer, so the count is back at once.
    assert.equal(activeTimers(), base, process.getActiveResourcesInfo().join(','))
  } finally {
    c.close()
    srv.close()
  }
})
