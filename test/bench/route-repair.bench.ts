// Benchmark (not a test): how long a peer route deleted by hand stays missing under weft-routes
// (issue 13 item 8: the kernel's route monitor repairs it; the 30 s resync is only the backstop).
// Prints the median, min and max over 20 deletions (flannel: its 10 s route check; weft before: 6-8 s).
//   node --import tsx test/bench/route-repair.bench.ts [deletions]
import { Scope, dist, must, waitFor } from '../helpers/scope.ts'
import { repairNode, PEER_ROUTE } from '../e2e/fast-repair-setup.ts'

const N = Math.max(5, Number(process.argv[2] ?? 20))
const scope = new Scope()
try {
  const n = await repairNode(scope)
  const p = scope.spawn([dist('weft-routes'), `--etcd-endpoints=${n.etcd.endpoint}`, '--iface=v0', `--subnet-file=${n.subnetFile}`, '--resync=30'], { netns: n.ns })
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('the route monitor', () => /watching the kernel's route changes/.test(log) && n.routes().includes(PEER_ROUTE), 30000)
  const times: number[] = []
  for (let i = 0; i < N; i++) {
    must(['ip', '-n', n.ns, 'route', 'del', '10.244.2.0/24'])
    const t0 = process.hrtime.bigint()
    await waitFor('the route back', () => n.routes().includes(PEER_ROUTE), 40000, 5)
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((a, b) => a - b)
  const median = N % 2 ? times[(N - 1) >> 1] : (times[N / 2 - 1] + times[N / 2]) / 2
  console.log(`deletions: ${N}`)
  console.log(`deleted route back after: median ${median.toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times[N - 1].toFixed(0)} ms (resync 30 s; target <= 1000 ms)`)
} finally {
  await scope.close()
}
