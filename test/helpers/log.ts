// Catches what lib/core/log.ts writes, through its sink seam, for the length of one call: the lines
// as they would reach stderr (time, program, level), in order. Nothing reaches the real stderr.
import { setLogSink } from '../../scripts/lib/core/log.ts'

export async function withLog<T>(fn: (lines: string[]) => Promise<T> | T): Promise<T> {
  const lines: string[] = []
  const before = setLogSink((line) => {
    lines.push(line)
  })
  try {
    return await fn(lines)
  } finally {
    setLogSink(before)
  }
}
