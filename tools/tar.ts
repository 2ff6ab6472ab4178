// A reproducible .tar.gz, written by hand so the bytes depend on nothing but the inputs: ustar
// entries in sorted order, one fixed mtime, uid/gid 0 with owner names "root", modes given, and
// gzip with no name and no timestamp (Node's zlib writes mtime 0, like gzip -n). GNU tar's output
// differs across its versions; this does not.
import { gzipSync } from 'node:zlib'

export interface Entry {
  /** path inside the archive, no leading / ; directories end with / */
  path: string
  mode: number
  data?: Buffer
}

function header(e: Entry, mtime: number): Buffer {
  const h = Buffer.alloc(512)
  const isDir = e.path.endsWith('/')
  let name = e.path
  let prefix = ''
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 2)
    prefix = name.slice(0, cut)
    name = name.slice(cut + 1)
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long for ustar: ${e.path}`)
  }
  const put = (s: string, off: number, len: number) => h.write(s, off, len, 'utf8')
  const oct = (n: number, off: number, len: number) => put(n.toString(8).padStart(len - 1, '0') + '\0', off, len)
  put(name, 0, 100)
  oct(e.mode & 0o7777, 100, 8)
  oct(0, 108, 8)
  oct(0, 116, 8)
  oct(isDir ? 0 : (e.data?.length ?? 0), 124, 12)
  oct(mtime, 136, 12)
  h.fill(' ', 148, 156) // checksum field counts as spaces while summing
  put(isDir ? '5' : '0', 156, 1)
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  put('root', 265, 32)
  put('root', 297, 32)
  put(prefix, 345, 155)
  let sum = 0
  for (const b of h) sum += b
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8)
  return h
}

export function tarGz(entries: Entry[], mtime: number): Buffer {
  const parts: Buffer[] = []
  for (const e of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    parts.push(header(e, mtime))
    if (!e.path.endsWith('/') && e.data) {
      parts.push(e.data)
      const pad = (512 - (e.data.length % 512)) % 512
      if (pad) parts.push(Buffer.alloc(pad))
    }
  }
  parts.push(Buffer.alloc(1024)) // two zero blocks end the archive
  return gzipSync(Buffer.concat(parts), { level: 9 })
}
