// Removing a lab that `weft-lab --keep` left running, from the manifest it saved: its processes
// (SIGTERM, then SIGKILL a second later), its namespaces (only names of that lab: wl-<id>-*),
// and its directory. The id comes from the command line, so it is checked before any path or
// name is built from it.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** Remove a lab left by --keep: its processes, namespaces and files. */
export function destroyLab(id: string): string[] {
  if (!/^[a-z0-9]{1,12}$/.test(id)) throw new Error(`invalid lab id ${JSON.stringify(id)}`)
  const dir = `/tmp/weft-lab-${id}`
  const file = join(dir, 'manifest.json')
  if (!existsSync(file)) throw new Error(`no lab ${id} (no ${file})`)
  const m = JSON.parse(readFileSync(file, 'utf8')) as { namespaces: string[]; pids: number[] }
  const gone = m.namespaces.filter((ns) => ns.startsWith(`wl-${id}-`)).reverse()
  // A saved pid is signalled only while it still runs inside one of the lab's namespaces: after a
  // reboot, or once the lab's processes died, the same number can be any process of the host
  // (and a manifest in /tmp is no proof of anything).
  const labNets = new Set(gone.map((ns) => netnsId(`/run/netns/${ns}`)).filter(Boolean))
  const pids = (Array.isArray(m.pids) ? m.pids : []).filter((pid) => Number.isInteger(pid) && pid > 1 && labNets.has(netnsId(`/proc/${pid}/ns/net`)))
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
  }
  spawnSync('sleep', ['1'])
  for (const pid of pids) {
    try {
      if (labNets.has(netnsId(`/proc/${pid}/ns/net`))) process.kill(pid, 'SIGKILL')
    } catch {}
  }
  for (const ns of gone) spawnSync('ip', ['netns', 'del', ns])
  rmSync(dir, { recursive: true, force: true })
  return gone
}

/** The identity of a network namespace (device and inode of its nsfs file), '' when unreadable. */
function netnsId(path: string): string {
  try {
    const st = statSync(path)
    return `${st.dev}:${st.ino}`
  } catch {
    return ''
  }
}
