// subnet.env written again at once when it goes (issue 13 item 8): deleted by hand (or by a
// cleanup script), every CNI ADD on the node failed while /readyz stayed 200, and nothing wrote
// it again until the writer restarted. The writer watches the file's directory (inotify through
// fs.watch) and rewrites the file, atomically as always, when it is missing or not what it wrote;
// a 5 s check backs the watch up (a watch lost with its directory, an event missed).
import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import { writeFileAtomic } from '../formats/subnet-file.ts'

export function keepFile(path: string, text: string, o: { signal: AbortSignal; log: (m: string) => void; checkMs?: number }): void {
  const name = basename(path)
  const check = () => {
    if (o.signal.aborted) return
    let now: string | undefined
    try {
      now = readFileSync(path, 'utf8')
    } catch {}
    if (now === text) return
    try {
      writeFileAtomic(path, text)
      o.log(`${path} was ${now === undefined ? 'deleted' : 'changed'}: written again`)
    } catch (e) {
      o.log(`${path} was ${now === undefined ? 'deleted' : 'changed'} and could not be written again: ${(e as Error).message}`)
    }
    arm() // the directory itself may have been re-created
  }
  let w: FSWatcher | undefined
  const arm = () => {
    w?.close()
    w = undefined
    if (o.signal.aborted || !existsSync(dirname(path))) return
    try {
      w = watch(dirname(path), { persistent: false }, (_ev, f) => {
        if (f === null || f === name) check()
      })
      w.on('error', () => {
        w?.close()
        w = undefined
      })
    } catch {}
  }
  arm()
  const t = setInterval(() => (w ? check() : (arm(), check())), o.checkMs ?? 5000)
  t.unref()
  o.signal.addEventListener(
    'abort',
    () => {
      clearInterval(t)
      w?.close()
    },
    { once: true },
  )
}
