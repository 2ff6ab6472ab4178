// Removing a lab that `weft-lab --keep` left running, from the manifest it saved: its processes
// (SIGTERM, then SIGKILL a second later), its namespaces (only names of that lab: wl-<id>-*),
// and its directory. The id comes from the command line, so it is checked before any path or
// name is built from it.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/** Remove a lab left by --keep: its processes, namespaces and files. */
export function destroyLab(id: string): string[] {
  if (!/^[a-z0-9]{1,12}$/.test(id)) throw new Error(`invalid lab id ${JSON.stringify(id)}`)
  const dir = `/tmp/weft-lab-${id}`
  const file = join(dir, 'manifest.json')
  if (!existsSync(file)) throw new Error(`no lab ${id} (no ${file})`)
  const m = JSON.parse(readFileSync(file, 'utf8')) as { namespaces: string[]; pids: number[] }
  for (const pid of m.pids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {}
  }
  spawnSync('sleep', ['1'])
  for (const pid of m.pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  const gone = m.namespaces.filter((ns) => ns.startsWith(`wl-${id}-`)).reverse()
  for (const ns of gone) spawnSync('ip', ['netns', 'del', ns])
  rmSync(dir, { recursive: true, force: true })
  return gone
}
