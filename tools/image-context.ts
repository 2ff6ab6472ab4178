// npm run image-context [dir] [node]: the Containerfile's build context in dir (default
// image-context/): the Containerfile, dist/ as bin/ (the bundles with their package.json and
// notices), and a Node.js binary as node (default: the one running this, which must be >= 20 and
// built for the base image's C library; Debian 12's own nodejs is 18). Then:
//   podman build --build-arg BASE=<base> -t localhost/weft:<version> <dir>
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export function imageContext(dir: string, node = process.execPath, repo = '.'): string {
  const major = Number(process.versions.node.split('.')[0])
  if (node === process.execPath && major < 20) throw new Error(`image-context: this Node is ${process.version}; the image needs >= 20 (pass a node binary)`)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(join(dir, 'bin'), { recursive: true })
  copyFileSync(join(repo, 'Containerfile'), join(dir, 'Containerfile'))
  for (const f of readdirSync(join(repo, 'dist'))) copyFileSync(join(repo, 'dist', f), join(dir, 'bin', f))
  copyFileSync(node, join(dir, 'node'))
  chmodSync(join(dir, 'node'), 0o755)
  return dir
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    console.log(imageContext(process.argv[2] ?? 'image-context', process.argv[3]))
  } catch (e) {
    console.error((e as Error).message)
    process.exit(1)
  }
}
