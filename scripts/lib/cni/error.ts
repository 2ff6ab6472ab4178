// CNI errors as the Go lib prints them: {code, msg, details?} with a 4-space indent, no
// cniVersion, no trailing newline, on stdout, exit 1. Any other thrown error becomes code 999
// (the Go lib's catch-all) with its message: never a stack trace.
import { goJson, ordered } from '../formats/cni-json.ts'

export const ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  io: 5,
  decoding: 6,
  invalidConfig: 7,
  invalidNetns: 8,
  tryAgainLater: 11,
  unavailable: 50,
  internal: 999,
} as const

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = '',
  ) {
    super(msg)
  }
}

export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e
  return new CniError(ERR.internal, e instanceof Error ? e.message : String(e))
}

export function formatError(e: CniError): string {
  return goJson(ordered({ code: e.code, msg: e.message, details: e.details || undefined }), '    ')
}

/** The text Go's os package gives for a failed file operation, e.g. `open /x: no such file or directory`. */
export function goFsError(op: string, path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'not a directory',
    EISDIR: 'is a directory',
    EEXIST: 'file exists',
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
    ELOOP: 'too many levels of symbolic links',
    ENAMETOOLONG: 'file name too long',
  }
  return `${op} ${path}: ${(code && text[code]) || (e instanceof Error ? e.message : String(e))}`
}
