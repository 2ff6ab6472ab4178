// Podman as a real CNI runtime on a lab node (Debian's podman 4.3.1, runc, the "cni" network
// backend; docs/runtimes.md), or confined the same way in a scratch namespace (setUpPodman, for
// image builds). Everything podman, conmon, runc and libcni keep stays in one directory per node:
//   install/        weft-install --root: opt/cni/bin (flannel + links to bridge, host-local,
//                   portmap) and etc/cni/net.d/10-flannel.conflist, which podman reads
//   cni/            mounted at /var/lib/cni in the node's own mount namespace (below): libcni's
//                   result cache (results/), host-local's allocations (networks/cbr0/) and the
//                   flannel plugin's scratch files (flannel/), all at the paths a real node uses
//   storage/, run/  podman --root/--runroot (vfs driver): nothing in /var/lib/containers
//   runc-state/     runc --root (through a wrapper): nothing in /run/runc
//   shim/flannel    logs each CNI command, then runs the installed plugin (found first in
//                   cni_plugin_dirs), so a test can see what the runtime sent
// Podman runs with `nsenter --net=/run/netns/<node>`, not `ip netns exec` (which remounts /sys:
// runc then finds no cgroup mount), and in a mount namespace held by a `cat` for this node, where
// the node's cni/ is bind-mounted on /var/lib/cni (libcni has no cache-dir setting in podman 4.3).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { run, type RunResult } from '../../scripts/lib/core/sh.ts'
import type { LabNode } from '../../scripts/lib/lab/lab.ts'
import { untilPrinted } from './wait.ts'

export const BUSYBOX = '/bin/busybox'
/** Deadline of one podman command (a loaded 2-core machine; a run takes ~2 s idle). */
export const PODMAN_DEADLINE_MS = 60000
/** Podman's flags that work here with --rootfs (no image, no registry), and this node's own cgroup parent. */
export function runFlags(pm: Podman, network = 'cbr0'): string[] {
  return ['--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', network, '--cgroup-parent', pm.cgroupParent]
}

/** Podman confined to one directory, run in one network namespace (a lab node's, or a scratch one). */
export interface Podman {
  /** named in errors */
  label: string
  /** the network namespace podman runs in (its --network host is this one) */
  netns: string
  dir: string
  /** /var/lib/cni as podman and the plugins see it */
  cniDir: string
  runcState: string
  /** one line per CNI command the runtime sent: "<COMMAND> <container id>" */
  cniLog: string
  conf: string
  holder: ChildProcess
  globals: string[]
  /** containers' and conmon's cgroups go under it (cgroupfs), instead of the shared /libpod_parent */
  cgroupParent: string
}

export interface PodmanNode extends Podman {
  node: LabNode
  installRoot: string
  conflist: string
}

/**
 * A root filesystem of busybox-static with every applet linked, and /www/cgi-bin/ip, a CGI that
 * answers with the client's address (busybox httpd sets REMOTE_ADDR): a container's "who am I".
 */
export function busyboxRootfs(dir: string): string {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install -y busybox-static`)
  const out = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
  mkdirSync(join(dir, 'bin'), { recursive: true })
  copyFileSync(BUSYBOX, join(dir, 'bin/busybox'))
  chmodSync(join(dir, 'bin/busybox'), 0o755)
  for (const a of out.stdout.split('\n').filter((x) => x && x !== 'busybox')) symlinkSync('busybox', join(dir, 'bin', a))
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'www/cgi-bin']) mkdirSync(join(dir, d), { recursive: true })
  writeFileSync(join(dir, 'www/cgi-bin/ip'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s" "$REMOTE_ADDR"\n', { mode: 0o755 })
  return dir
}

/**
 * Podman on one lab node: weft-install into the node's root, then podman reading what it wrote.
 * `dir` must be a fresh directory the caller removes.
 */
export async function setUpPodmanNode(node: LabNode, dir: string, dist: string): Promise<PodmanNode> {
  const installRoot = join(dir, 'install')
  mkdirSync(join(installRoot, 'usr/lib'), { recursive: true })
  // The node is a Debian host: the reference plugins are in its /usr/lib/cni.
  symlinkSync('/usr/lib/cni', join(installRoot, 'usr/lib/cni'))
  // Inside the node's network namespace, so the preflight reads the node's sysctls.
  const install = [process.execPath, join(dist, 'weft-install'), '--root', installRoot, '--no-daemon', '--no-unit', '--', `--subnet-file=${node.subnetFile}`]
  await run(['nsenter', `--net=/run/netns/${node.ns}`, ...install], { env: { ...process.env, CNI_PATH: '' } })
  const pm = await setUpPodman(dir, node.ns, node.name, join(installRoot, 'opt/cni/bin'), join(installRoot, 'etc/cni/net.d'))
  return { ...pm, node, installRoot, conflist: join(installRoot, 'etc/cni/net.d/10-flannel.conflist') }
}

/**
 * Podman's files in dir (containers.conf, the runc wrapper, the logging shim in front of
 * pluginDir's flannel) and the mount namespace it runs in. `dir` must exist; the caller removes it.
 */
export async function setUpPodman(dir: string, netns: string, label: string, pluginDir = '', confDir = join(dir, 'net.d')): Promise<Podman> {
  const cniDir = join(dir, 'cni')
  const runcState = join(dir, 'runc-state')
  for (const d of [cniDir, runcState, confDir, join(dir, 'tmp'), join(dir, 'shim')]) mkdirSync(d, { recursive: true })
  const cniLog = join(dir, 'cni-commands.log')
  if (pluginDir)
    writeFileSync(join(dir, 'shim/flannel'), `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID" >> '${cniLog}'\nexec '${join(pluginDir, 'flannel')}' "$@"\n`, { mode: 0o755 })
  writeFileSync(join(dir, 'runc'), `#!/bin/sh\nexec runc --root '${runcState}' "$@"\n`, { mode: 0o755 })
  const conf = join(dir, 'containers.conf')
  writeFileSync(conf, containersConf(dir, pluginDir ? [join(dir, 'shim'), pluginDir] : ['/usr/lib/cni'], confDir))
  const holder = await holdMountNamespace(cniDir)
  const globals = ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs']
  return { label, netns, dir, cniDir, runcState, cniLog, conf, holder, globals, cgroupParent: `/weft-test-${process.pid}-${basename(dir)}` }
}

/** The containers.conf of docs/runtimes.md, with every path in this node's directory. */
export function containersConf(dir: string, pluginDirs: string[], confDir: string): string {
  const q = (s: string) => JSON.stringify(s)
  return `[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = ${q(join(dir, 'events.log'))}
tmp_dir = ${q(join(dir, 'tmp'))}
lock_type = "file"
runtime = "runc"

[engine.runtimes]
runc = [${q(join(dir, 'runc'))}]

[network]
network_backend = "cni"
cni_plugin_dirs = [${pluginDirs.map(q).join(', ')}]
network_config_dir = ${q(confDir)}
default_network = "cbr0"
`
}

/** A process in a new mount namespace (propagation slave: the host's mounts still come in) with cniDir on /var/lib/cni; it lives until its stdin closes. */
async function holdMountNamespace(cniDir: string): Promise<ChildProcess> {
  // The mount point. Made when missing (as podman would) and left: removing it while another test
  // process's namespace has a mount on it would detach that mount (Linux >= 3.18).
  mkdirSync('/var/lib/cni', { recursive: true })
  const p = spawn('unshare', ['--mount', '--propagation', 'slave', '--', 'sh', '-c', 'mount --bind "$0" /var/lib/cni && echo up && exec cat', cniDir], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let err = ''
  p.stderr?.on('data', (d) => (err += d))
  await untilPrinted(p, 'up').catch((e) => Promise.reject(new Error(`${(e as Error).message}; stderr: ${err}`)))
  return p
}

function podmanArgv(pn: Podman, args: string[]): string[] {
  return ['nsenter', '-t', String(pn.holder.pid), '-m', `--net=/run/netns/${pn.netns}`, 'podman', ...pn.globals, ...args]
}

/** One podman command on the node, with a deadline; throws naming the command, unless nothrow. */
export async function podman(pn: Podman, args: string[], o: { nothrow?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  const timeoutMs = o.timeoutMs ?? PODMAN_DEADLINE_MS
  const t0 = Date.now()
  const r = await run(podmanArgv(pn, args), { env: { ...process.env, CONTAINERS_CONF: pn.conf }, nothrow: true, timeoutMs })
  if (r.code !== 0 && !o.nothrow) {
    const why = Date.now() - t0 >= timeoutMs ? `did not finish within ${timeoutMs} ms` : `failed (exit ${r.code})`
    throw new Error(`podman ${args.join(' ')} on ${pn.label} ${why}: ${r.stderr.trim() || r.stdout.trim()}`)
  }
  return r
}

/** The CNI commands the runtime sent for one container, in order (VERSION probes left out). */
export function cniCommands(pn: Podman, id: string): string[] {
  if (!existsSync(pn.cniLog)) return []
  return readFileSync(pn.cniLog, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${id}`))
    .map((l) => l.split(' ')[0])
}

/** What a container left on the node: libcni cache entries, host-local allocations, weft scratch files, runc state. */
export function leftovers(pn: Podman, id: string): string[] {
  const out: string[] = []
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : [])
  for (const f of ls(join(pn.cniDir, 'results'))) if (f.includes(id)) out.push(`libcni cache ${f}`)
  const alloc = join(pn.cniDir, 'networks/cbr0')
  for (const f of ls(alloc)) if (/^\d/.test(f) && readFileSync(join(alloc, f), 'utf8').includes(id)) out.push(`host-local allocation ${f}`)
  for (const f of ls(join(pn.cniDir, 'flannel'))) if (f === id) out.push(`weft scratch file ${f}`)
  for (const f of ls(pn.runcState)) if (f === id) out.push(`runc state ${f}`)
  return out
}

/**
 * Everything podman started on the node goes: containers (podman rm, or runc itself if podman
 * hangs), then the mount namespace holder. Safe to call twice; never throws.
 */
export async function tearDownPodman(pn: Podman): Promise<void> {
  await podman(pn, ['rm', '--all', '--force', '--time', '0'], { nothrow: true }).catch(() => {})
  tearDownPodmanSync(pn)
}

/** The synchronous part (also what a process 'exit' hook can do after a crash). */
export function tearDownPodmanSync(pn: Podman): void {
  if (pn.holder.exitCode === null && pn.holder.signalCode === null && existsSync(join(pn.dir, 'storage'))) {
    const [cmd, ...args] = podmanArgv(pn, ['rm', '--all', '--force', '--time', '0'])
    spawnSync(cmd, args, { env: { ...process.env, CONTAINERS_CONF: pn.conf }, timeout: PODMAN_DEADLINE_MS, stdio: 'ignore' })
  }
  for (const id of existsSync(pn.runcState) ? readdirSync(pn.runcState) : []) {
    spawnSync('runc', ['--root', pn.runcState, 'delete', '--force', id], { timeout: 10000, stdio: 'ignore' })
  }
  if (pn.holder.exitCode === null && pn.holder.signalCode === null) pn.holder.kill('SIGKILL')
  // runc removes a container's own cgroup; the parent (and conmon's, beside it) are ours. rmdir
  // only removes an empty cgroup.
  for (const ctl of existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []) {
    for (const d of [join('/sys/fs/cgroup', ctl, pn.cgroupParent, 'conmon'), join('/sys/fs/cgroup', ctl, pn.cgroupParent)]) {
      try {
        rmdirSync(d)
      } catch {}
    }
  }
}
