// Reading what `dist/weft-lab` left or said, for the tests that run the bundle as a user would.
import { sh } from './scope.ts'

/** The lab's namespaces still present (they are named wl-<id>-...). */
export const netnsOf = (id: string) =>
  sh(['ip', 'netns', 'list'])
    .stdout.split('\n')
    .filter((l) => l.startsWith(`wl-${id}-`))

/** The lab's id, from its first line ("weft lab <id>: ..."). */
export const idOf = (out: string) => /weft lab ([a-z0-9]+):/.exec(out)?.[1] ?? ''
