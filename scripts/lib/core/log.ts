// Daemons log one line per event to stderr: "<time> <program> [<level>: ]<message>" (info has no
// level word, as flanneld's lines have none). Under journald (JOURNAL_STREAM names our stderr)
// the time is left out, journald stamps each line itself, and the level goes in a syslog
// priority prefix (<3> error, <4> warning, <6> info, <7> debug) that journald reads as PRIORITY.
// Debug lines are printed at flanneld's -v 1 and above (WEFT_LOG_V, which flanneld passes on).
import { basename } from 'node:path'
import { fstatSync } from 'node:fs'

const prog = basename(process.argv[1] ?? 'weft')

export type Level = 'error' | 'warning' | 'info' | 'debug'
const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6, debug: 7 }

let journal: boolean | undefined
/** JOURNAL_STREAM is "<dev>:<inode>" of the stream systemd connected; it counts only if that is still our stderr. */
export function underJournald(env: NodeJS.ProcessEnv = process.env, stat = () => fstatSync(2)): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '')
  if (!m) return false
  try {
    const st = stat()
    return String(st.dev) === m[1] && String(st.ino) === m[2]
  } catch {
    return false
  }
}

/** One log line as written, for a level (pure, so tests pin both formats). */
export function formatLine(level: Level, msg: string, o: { journal: boolean; now?: Date; program?: string }): string {
  const text = level === 'info' || level === 'debug' ? msg : `${level}: ${msg}`
  // One event, one line: a message carrying newlines (a command's stderr) stays on its line.
  const flat = text.replace(/\r?\n/g, ' | ')
  if (o.journal) return `<${PRIORITY[level]}>${o.program ?? prog} ${flat}\n`
  return `${(o.now ?? new Date()).toISOString()} ${o.program ?? prog} ${flat}\n`
}

/** Where finished log lines go: stderr, unless a test or an embedding program gives another sink. */
export type LogSink = (line: string, level: Level) => void
const toStderr: LogSink = (line) => {
  process.stderr.write(line)
}
let sink: LogSink = toStderr

/** Sends log lines to `next` (stderr again with no argument); returns the sink it replaced. */
export function setLogSink(next: LogSink = toStderr): LogSink {
  const before = sink
  sink = next
  return before
}

function write(level: Level, msg: string): void {
  journal ??= underJournald()
  sink(formatLine(level, msg, { journal }), level)
}

export function log(msg: string): void {
  write('info', msg)
}

export function warn(msg: string): void {
  write('warning', msg)
}

/** Printed only at -v 1 and above (flanneld's klog verbosity, passed to parts as WEFT_LOG_V). */
export function debug(msg: string, v = 1): void {
  if ((Number(process.env.WEFT_LOG_V) || 0) >= v) write('debug', msg)
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
