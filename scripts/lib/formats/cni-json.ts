// JSON text exactly as Go's encoding/json writes it, because flannel's delegate config and the
// results it re-prints are Go output and must match byte for byte:
// - map[string]interface{} keys are sorted (byte order) at every level;
// - structs keep their field order: a value built with `ordered()` keeps its key order;
// - strings escape <, >, & (json.Marshal's HTML escaping) and U+2028/U+2029;
// - MarshalIndent uses 4 spaces and writes no trailing newline.

const ORDERED = Symbol('ordered')

/** An object whose keys are written in insertion order (a Go struct), not sorted (a Go map). */
export function ordered<T extends object>(o: T): T {
  Object.defineProperty(o, ORDERED, { value: true, enumerable: false })
  return o
}

export function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

/** strconv.Quote for the texts flannel quotes with %q (delegate stderr/stdout in errors). */
export function goQuote(s: string): string {
  const esc: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '"': '\\"', '\\': '\\\\' }
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (esc[ch]) out += esc[ch]
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0')
    else out += ch
  }
  return out + '"'
}

function num(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`json: unsupported value: ${n}`)
  return JSON.stringify(n)
}

/** Compact (indent '') or indented Go JSON of a parsed JSON value. */
export function goJson(v: unknown, indent = ''): string {
  return enc(v, indent, '')
}

function enc(v: unknown, ind: string, pre: string): string {
  if (v === null || v === undefined) return 'null'
  if (typeof v === 'string') return goString(v)
  if (typeof v === 'number') return num(v)
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  const inner = pre + ind
  const nl = ind ? '\n' : ''
  const sep = ind ? ': ' : ':'
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]'
    return '[' + nl + v.map((x) => inner + enc(x, ind, inner)).join(',' + nl) + nl + pre + ']'
  }
  const o = v as Record<string, unknown>
  let keys = Object.keys(o).filter((k) => o[k] !== undefined)
  if (!(o as Record<symbol, unknown>)[ORDERED]) keys = keys.sort(byteOrder)
  if (keys.length === 0) return '{}'
  return '{' + nl + keys.map((k) => inner + goString(k) + sep + enc(o[k], ind, inner)).join(',' + nl) + nl + pre + '}'
}

// Go sorts map keys by their UTF-8 bytes; UTF-16 order differs only above U+FFFF vs U+E000-U+FFFF.
function byteOrder(a: string, b: string): number {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return Buffer.compare(x, y)
}

/** JSON kind names Go uses in "cannot unmarshal X into ..." messages. */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'object') return 'object'
  return typeof v === 'boolean' ? 'bool' : typeof v
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
