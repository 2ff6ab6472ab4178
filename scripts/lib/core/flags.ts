// Go-flag-compatible command lines (flanneld's users type `-iface eth0`, `--iface=eth0`,
// `--ip-masq`, `--ip-masq=false`), with FLANNELD_<NAME> environment fallbacks as flanneld reads
// them: a flag not given on the command line may come from the environment; the CLI wins.

export type FlagType = 'string' | 'bool' | 'int' | 'list'

export interface FlagDef {
  type: FlagType
  help: string
  default?: string | boolean | number | string[]
  /** metavariable shown in --help */
  arg?: string
}

export type FlagSpec = Record<string, FlagDef>

type Value<D extends FlagDef> = D['type'] extends 'bool' ? boolean : D['type'] extends 'int' ? number : D['type'] extends 'list' ? string[] : string

export type Flags<S extends FlagSpec> = { [K in keyof S]: Value<S[K]> } & { _: string[] }

export class UsageError extends Error {}

function convert(name: string, def: FlagDef, raw: string): string | boolean | number {
  switch (def.type) {
    case 'bool': {
      const v = raw.toLowerCase()
      if (['1', 't', 'true'].includes(v)) return true
      if (['0', 'f', 'false'].includes(v)) return false
      throw new UsageError(`invalid boolean value ${JSON.stringify(raw)} for --${name}`)
    }
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new UsageError(`invalid integer value ${JSON.stringify(raw)} for --${name}`)
      return Number(raw)
    }
    default:
      return raw
  }
}

/**
 * Parse argv against spec. envPrefix (e.g. "FLANNELD_") enables environment fallbacks:
 * --etcd-endpoints <- FLANNELD_ETCD_ENDPOINTS. A list flag from the environment is split on commas.
 */
export function parseFlags<S extends FlagSpec>(argv: readonly string[], spec: S, opts: { envPrefix?: string; env?: NodeJS.ProcessEnv; positional?: boolean } = {}): Flags<S> {
  const out: Record<string, unknown> = { _: [] as string[] }
  const seen = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      ;(out._ as string[]).push(...argv.slice(i + 1))
      break
    }
    if (!a.startsWith('-') || a === '-') {
      if (opts.positional === false) throw new UsageError(strayArgument(a, argv[i - 1], spec))
      ;(out._ as string[]).push(a)
      continue
    }
    const body = a.replace(/^--?/, '')
    const eq = body.indexOf('=')
    const given = eq >= 0 ? body.slice(0, eq) : body
    // -h is --help in every bundle that has --help (Go's flag package answers -h the same way).
    const name = given === 'h' && !spec.h && spec.help ? 'help' : given
    const def = spec[name]
    if (!def) throw new UsageError(`flag provided but not defined: -${name}`)
    let raw: string
    if (eq >= 0) raw = body.slice(eq + 1)
    else if (def.type === 'bool') raw = 'true'
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`)
      raw = argv[++i]
    }
    const v = convert(name, def, raw)
    if (def.type === 'list') {
      const prev = seen.has(name) ? (out[name] as string[]) : []
      out[name] = [...prev, String(v)]
    } else out[name] = v
    seen.add(name)
  }
  const env = opts.env ?? process.env
  for (const [name, def] of Object.entries(spec)) {
    if (seen.has(name)) continue
    const envName = opts.envPrefix ? opts.envPrefix + name.toUpperCase().replace(/-/g, '_') : undefined
    const fromEnv = envName ? env[envName] : undefined
    if (fromEnv !== undefined && fromEnv !== '') {
      out[name] = def.type === 'list' ? fromEnv.split(',').filter(Boolean) : convert(name, def, fromEnv)
    } else if (def.default !== undefined) out[name] = Array.isArray(def.default) ? [...def.default] : def.default
    else out[name] = def.type === 'bool' ? false : def.type === 'list' ? [] : def.type === 'int' ? 0 : ''
  }
  return out as Flags<S>
}

/**
 * Why a positional argument is refused (issue 13 item 12): Go's flag package, which flanneld
 * uses, stops at the first one and silently ignores every flag after it, so `--ip-masq false`
 * there means --ip-masq=true and drops the rest of the command line. Here it is a usage error.
 */
function strayArgument(arg: string, prev: string | undefined, spec: FlagSpec): string {
  const name = prev?.startsWith('-') && !prev.includes('=') ? prev.replace(/^--?/, '') : undefined
  const hint = name && spec[name]?.type === 'bool' ? `; a boolean flag takes its value after '=': --${name}=${arg}` : ''
  return `unexpected argument ${JSON.stringify(arg)}: no positional arguments are taken (flannel's Go flag parsing stops at one and silently ignores every flag after it)${hint}`
}

export function helpText(usage: string, summary: string, spec: FlagSpec, envPrefix?: string): string {
  const lines = [`Usage: ${usage}`, '', summary.trim(), '', 'Flags:']
  for (const [name, def] of Object.entries(spec)) {
    const arg = def.type === 'bool' ? '' : ` ${def.arg ?? def.type}`
    const dflt =
      def.default === undefined || def.default === '' || (Array.isArray(def.default) && def.default.length === 0)
        ? ''
        : ` (default ${Array.isArray(def.default) ? def.default.join(',') : String(def.default)})`
    lines.push(`  --${name}${arg}`)
    lines.push(`        ${def.help}${dflt}`)
  }
  if (envPrefix) lines.push('', `Every flag may also be set as ${envPrefix}<NAME> (upper case, - as _); the command line wins.`)
  return lines.join('\n') + '\n'
}

/** The values a spec's flags take, each optional: what a caller passes on to a part. */
export type FlagValues<S extends FlagSpec> = { [K in keyof S]?: Value<S[K]> }

/**
 * The command line that parseFlags(…, spec) reads back as values: how flanneld passes options to
 * its parts, typed by the part's own spec (a misspelt name or a wrong type fails to compile).
 * Always `--name=value` (a value may hold spaces, '=' or ',', or start with '-'); a list is
 * one flag per item; undefined is left out.
 */
export function renderFlags<S extends FlagSpec>(spec: S, values: FlagValues<S>): string[] {
  const argv: string[] = []
  for (const [name, v] of Object.entries(values)) {
    const def = spec[name]
    if (!def) throw new Error(`renderFlags: --${name} is not in the spec`)
    if (v === undefined) continue
    if (def.type === 'list') for (const item of v as string[]) argv.push(`--${name}=${item}`)
    else argv.push(`--${name}=${String(v)}`)
  }
  return argv
}
