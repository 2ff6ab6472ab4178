// Daemons log one line per event to stderr: "<time> <program> <message>".
import { basename } from 'node:path'

const prog = basename(process.argv[1] ?? 'weft')

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${prog} ${msg}\n`)
}

export function warn(msg: string): void {
  log(`warning: ${msg}`)
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
