// One command-line convention for every bundle but the CNI plugin (whose stdout is CNI JSON):
// -h/--help prints usage on stdout, exit 0 (the bundle's own main does that, from its flag spec);
// a bad flag or value is one line "<program>: <message> (see --help)" on stderr, exit 2, before
// anything is changed; a runtime failure is one line "<program>: error: <message>", exit 1 (or the
// FatalError's code). Library code throws typed errors and never exits: only runMain maps them,
// including errors thrown later from timers and event handlers (never a stack trace).
import { UsageError } from './flags.ts'
import { errText } from './log.ts'

export { UsageError }

/** A runtime failure that ends the program with one line and `code`. */
export class FatalError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message)
  }
}

/** End the program: thrown instead of calling process.exit deep inside a procedure. */
export function fail(message: string, code = 1): never {
  throw new FatalError(message, code)
}

/** The exit code and the line an error maps to; pure, so the convention is unit-tested. */
export function describeFailure(program: string, e: unknown): { code: number; line: string } {
  if (e instanceof UsageError) return { code: 2, line: `${program}: ${e.message} (see --help)` }
  if (e instanceof FatalError) return { code: e.code, line: `${program}: error: ${e.message}` }
  return { code: 1, line: `${program}: error: ${errText(e)}` }
}

function report(program: string, e: unknown): never {
  const f = describeFailure(program, e)
  process.stderr.write(f.line + '\n')
  process.exit(f.code)
}

/**
 * Run a bundle's main. A number it returns is the exit code; undefined leaves the process to end
 * on its own (a daemon's loops and servers keep it alive).
 */
export function runMain(program: string, main: () => Promise<number | void> | number | void): void {
  process.on('uncaughtException', (e) => report(program, e))
  process.on('unhandledRejection', (e) => report(program, e))
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        if (typeof code === 'number') process.exit(code)
      },
      (e) => report(program, e),
    )
}
