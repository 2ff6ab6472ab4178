// Writing subnet.env as flanneld does (renameio.WriteFile): MkdirAll(dir, 0755), a temp file in
// the same directory, fsync, rename(2), mode 0644 regardless of umask. A reader (the CNI plugin)
// sees the old file or the new one, never half of one.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, fchmodSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'
import { parseCidr, type Cidr, type Family } from '../net/cidr.ts'

export function writeFileAtomic(path: string, text: string, mode = 0o644): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    writeSync(fd, text)
    fchmodSync(fd, mode) // the umask must not narrow it
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw e
  }
  closeSync(fd)
  try {
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
  // The rename itself must survive a crash too.
  try {
    const dfd = openSync(dir, 'r')
    fsyncSync(dfd)
    closeSync(dfd)
  } catch {}
}

/**
 * FLANNEL_SUBNET of an old subnet.env as a network (10.244.1.1/24 -> 10.244.1.0/24), read
 * leniently as flanneld's godotenv read does: a missing or broken file, or a comma list, is none.
 * Family 6 reads FLANNEL_IPV6_SUBNET the same way.
 */
export function previousSubnet(path: string, family: Family = 4): Cidr | undefined {
  const key = family === 4 ? 'FLANNEL_SUBNET' : 'FLANNEL_IPV6_SUBNET'
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim()
    const m = /^(?:export\s+)?(FLANNEL_(?:IPV6_)?SUBNET)\s*=\s*["']?([^"'\s]*)["']?$/.exec(line)
    if (!m || m[1] !== key || m[2].includes(',')) continue
    try {
      return parseCidr(m[2], family)
    } catch {
      return undefined
    }
  }
  return undefined
}
