// A BASELINE for test/bench/routes.bench.ts, not part of weft: the least a Node process can do
// for one host-gw sync, with no library, no validation and no error handling. One etcd range
// read over the v3 JSON API, one `ip -j -batch -` read of the interface and the main table, the
// missing routes as one `ip -force -batch -` (forked at start, fed once planned).
// Usage: node bare-sync.cjs <etcd endpoint> <prefix> <iface>
const http = require('node:http')
const { spawn } = require('node:child_process')

const [endpoint, prefix, iface] = process.argv.slice(2)
const sp = `${prefix}/subnets/`
const b64 = (s) => Buffer.from(s).toString('base64')

function range() {
  const u = new URL('/v3/kv/range', endpoint)
  const body = JSON.stringify({ key: b64(sp), range_end: b64(sp.slice(0, -1) + '0') })
  return new Promise((resolve, reject) => {
    const req = http.request(u, { method: 'POST' }, (res) => {
      const chunks = []
      res.on('data', (d) => chunks.push(d))
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())))
    })
    req.on('error', reject)
    req.end(body)
  })
}

function bash(cmd) {
  const p = spawn('/bin/bash', ['-c', cmd], { stdio: ['pipe', 'pipe', 'inherit'] })
  const out = []
  p.stdout.on('data', (d) => out.push(d))
  p.done = new Promise((resolve) => p.on('close', (code) => resolve({ code, out: Buffer.concat(out).toString() })))
  return p
}

const kvs = range()
const read = bash('ip -j -batch -')
read.stdin.end(`addr show dev ${iface}\nroute show table main\n`)
const apply = bash('ip -force -batch -')

;(async () => {
  const [r, k] = await Promise.all([kvs, read.done])
  const have = new Set(JSON.parse(k.out.split('\n')[1]).map((x) => x.dst))
  let batch = ''
  for (const kv of r.kvs ?? []) {
    const dst = Buffer.from(kv.key, 'base64').toString().slice(sp.length).replace('-', '/')
    const gw = JSON.parse(Buffer.from(kv.value, 'base64').toString()).PublicIP
    if (!have.has(dst)) batch += `route replace ${dst} via ${gw} dev ${iface}\n`
  }
  apply.stdin.end(batch)
  process.exitCode = (await apply.done).code
})()
