// The reference plugins kube-flannel's conflist needs: the flannel plugin delegates to `bridge`
// (with `host-local` for addresses), and the chain's second plugin is `portmap`. A runtime looks
// for them in its CNI bin dir (/opt/cni/bin), but Debian and Ubuntu put them in /usr/lib/cni and
// Fedora in /usr/libexec/cni. weft-install links each missing one into the bin dir from where it
// is found, or refuses with the command that installs them.
import { existsSync, lstatSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const NEEDED_PLUGINS = ['bridge', 'host-local', 'portmap'] as const

export interface PluginLink {
  /** the link, as seen on the node */
  path: string
  /** where it points, as seen on the node */
  target: string
}

export class MissingPlugins extends Error {}

/** Where to look, in order: CNI_PATH's directories, then the distributions' own places. */
export function searchDirs(cniPath: string | undefined): string[] {
  const dirs = (cniPath ?? '').split(':').filter((d) => d.startsWith('/'))
  return [...new Set([...dirs, '/usr/lib/cni', '/usr/libexec/cni'])]
}

/**
 * The links to make in cniBinDir (paths on the node; `root` is where the node's / is mounted),
 * or MissingPlugins naming what is missing, where we looked, and how to install it.
 */
export function pluginLinks(root: string, cniBinDir: string, cniPath: string | undefined): PluginLink[] {
  const links: PluginLink[] = []
  const missing: string[] = []
  const dirs = searchDirs(cniPath).filter((d) => d !== cniBinDir)
  for (const p of NEEDED_PLUGINS) {
    const inBin = join(cniBinDir, p)
    if (exists(join(root, inBin))) continue
    const dir = dirs.find((d) => exists(join(root, d, p)))
    if (dir) links.push({ path: inBin, target: join(dir, p) })
    else missing.push(p)
  }
  if (missing.length) {
    throw new MissingPlugins(
      `the conflist needs the CNI reference plugin${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, found in none of ${[cniBinDir, ...dirs].join(', ')}; install them with: ${installCommand(root, cniBinDir)} (or pass --no-conflist)`,
    )
  }
  return links
}

function exists(p: string): boolean {
  try {
    lstatSync(p)
    return existsSync(p) // a dangling link does not count
  } catch {
    return false
  }
}

/** The distribution's package, else the upstream release into the bin dir. */
export function installCommand(root: string, cniBinDir: string): string {
  const os = osRelease(root)
  const like = `${os.ID ?? ''} ${os.ID_LIKE ?? ''}`
  if (/\b(debian|ubuntu)\b/.test(like)) return 'apt-get install -y containernetworking-plugins'
  if (/\b(fedora|rhel|centos)\b/.test(like)) return 'dnf install -y containernetworking-plugins'
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const v = 'v1.6.2'
  return `mkdir -p ${cniBinDir} && curl -fsSL https://github.com/containernetworking/plugins/releases/download/${v}/cni-plugins-linux-${arch}-${v}.tgz | tar -xz -C ${cniBinDir}`
}

function osRelease(root: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const f of ['etc/os-release', 'usr/lib/os-release']) {
    try {
      for (const line of readFileSync(join(root, f), 'utf8').split('\n')) {
        const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line.trim())
        if (m) out[m[1]] = m[3]
      }
      return out
    } catch {}
  }
  return out
}
