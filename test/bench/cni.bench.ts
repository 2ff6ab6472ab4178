// Benchmark (not a test): one ADD+DEL cycle of dist/flannel delegating to the reference bridge,
// against the reference bridge called directly with the same delegate config, and `node -e 0`,
// interleaved in the same run. Target: flannel / (bridge + 2 x node -e 0) <= 1.15, i.e. what our
// code adds beyond two Node start-ups (ADD and DEL) is small.
//   node --import tsx test/bench/cni.bench.ts [rounds]      (BENCH_N also works; default 30)
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Scope, dist, root } from '../helpers/scope.ts'

const N = Math.max(20, Number(process.argv[2] ?? process.env.BENCH_N ?? 30))
const scope = new Scope()

function timed(argv: string[], env: NodeJS.ProcessEnv, input: string): number {
  const t = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), { env, input, encoding: 'utf8' })
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0) throw new Error(`${argv.join(' ')} (${env.CNI_COMMAND ?? ''}) failed: ${r.stdout} ${r.stderr}`)
  return ms
}

// A pod lives between its ADD and its DEL, and the kernel's teardown of a veth costs ~7 ms more
// once the link has been up for a few tens of ms (measured here: bridge's DEL right after its ADD
// ~18 ms, 20 ms later ~25 ms). flannel's DEL can never start sooner than one Node start-up after
// its ADD, so both sides wait the same untimed pause, as a real pod would, before DEL.
const PAUSE_MS = 50
function pause(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, PAUSE_MS)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

try {
  const dir = scope.tmp('cnibench')
  const node = scope.ns('bn')
  const podF = scope.ns('bf')
  const podB = scope.ns('bb')
  const subnetFile = join(dir, 'subnet.env')
  writeFileSync(subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'flannel',
    subnetFile,
    dataDir: join(dir, 'data'),
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ipam: { dataDir: join(dir, 'ipam') },
  })
  const base = { PATH: process.env.PATH, CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' }
  const envF = (cmd: string) => ({ ...base, CNI_COMMAND: cmd, CNI_CONTAINERID: 'benchf', CNI_NETNS: `/run/netns/${podF}` })
  const envB = (cmd: string) => ({ ...base, CNI_COMMAND: cmd, CNI_CONTAINERID: 'benchb', CNI_NETNS: `/run/netns/${podB}` })
  const flannel = ['ip', 'netns', 'exec', node, dist('flannel')]
  const bridge = ['ip', 'netns', 'exec', node, '/usr/lib/cni/bridge']

  // The exact delegate config flannel sends (read from its scratch file) is what bridge gets directly.
  timed(flannel, envF('ADD'), conf)
  const delegate = readFileSync(join(dir, 'data', 'benchf'), 'utf8')
  timed(flannel, envF('DEL'), conf)

  const t = { flannel: [] as number[], bridge: [] as number[], node: [] as number[], version: [] as number[] }
  const jobs: [keyof typeof t, () => number][] = [
    ['flannel', () => timed(flannel, envF('ADD'), conf) + (pause(), timed(flannel, envF('DEL'), conf))],
    ['bridge', () => timed(bridge, envB('ADD'), delegate) + (pause(), timed(bridge, envB('DEL'), delegate))],
    ['node', () => timed([process.execPath, '-e', '0'], { PATH: process.env.PATH }, '')],
    // start-up alone: the shebang (env node), loading the bundle, printing one line
    ['version', () => timed([dist('flannel')], { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' }, '')],
  ]
  for (let i = 0; i < 3; i++) for (const [, f] of jobs) f() // warm caches
  for (let i = 0; i < N; i++) {
    // interleaved, in a rotating order so no kind always runs first
    for (let j = 0; j < jobs.length; j++) {
      const [k, f] = jobs[(i + j) % jobs.length]
      t[k].push(f())
    }
  }
  const m = { flannel: median(t.flannel), bridge: median(t.bridge), node: median(t.node), version: median(t.version) }
  const ratio = m.flannel / (m.bridge + 2 * m.node)
  console.log(`rounds: ${N}`)
  console.log(`flannel ADD+DEL (via bridge):  ${m.flannel.toFixed(1)} ms (median)`)
  console.log(`bridge ADD+DEL (direct):       ${m.bridge.toFixed(1)} ms`)
  console.log(`node -e 0:                     ${m.node.toFixed(1)} ms`)
  console.log(`ratio flannel / (bridge + 2 x node -e 0) = ${ratio.toFixed(3)} (target <= 1.15)`)
  console.log(`dist/flannel VERSION:          ${m.version.toFixed(1)} ms (start-up alone: +${(m.version - m.node).toFixed(1)} ms over node -e 0)`)
  console.log(`our own cost per call beyond Node start-up: ${((m.flannel - m.bridge - 2 * m.node) / 2).toFixed(1)} ms`)
  console.log('bundle sizes:')
  for (const f of readdirSync(join(root, 'dist')).sort()) {
    console.log(`  dist/${f.padEnd(16)} ${statSync(join(root, 'dist', f)).size} bytes`)
  }
} finally {
  await scope.close()
}
