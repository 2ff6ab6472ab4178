// The YAML a kubeconfig is written in: block mappings and sequences, plain and quoted scalars,
// `{}` / `[]`, comments. Measured: zx's YAML (the `yaml` package, only in full zx, not zx/core)
// adds ~360 KB to every bundle that imports it (411 KB vs 49 KB for zx/core alone), three times
// the whole route syncer; kubeconfigs that kubectl, kubeadm and cloud tools write use only this
// subset. Anything else (anchors, block scalars, flow maps with content) is refused by name, so
// a kubeconfig this cannot read fails loudly instead of being misread. JSON is YAML too: a file
// starting with `{` is parsed as JSON.
export type Yaml = string | boolean | null | Yaml[] | { [k: string]: Yaml }

interface Line {
  no: number
  indent: number
  text: string
}

export function parseYaml(src: string, what = 'YAML'): Yaml {
  if (/^\s*\{/.test(src)) {
    try {
      return JSON.parse(src)
    } catch (e) {
      throw new Error(`${what}: not valid JSON: ${(e as Error).message}`)
    }
  }
  const lines: Line[] = []
  src.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*(#.*)?$/.test(raw) || raw === '---') return
    if (/^\t| \t/.test(raw.match(/^\s*/)![0])) throw new Error(`${what} line ${i + 1}: tabs cannot indent YAML`)
    const text = raw.trimStart()
    lines.push({ no: i + 1, indent: raw.length - text.length, text: text.trimEnd() })
  })
  if (!lines.length) return null
  const p = { lines, i: 0, what }
  const v = block(p, lines[0].indent)
  if (p.i < lines.length) throw err(p, lines[p.i], 'unexpected indentation')
  return v
}

type P = { lines: Line[]; i: number; what: string }

function err(p: P, l: Line, why: string): Error {
  return new Error(`${p.what} line ${l.no}: ${why} (weft reads the YAML subset kubeconfigs use)`)
}

const isItem = (t: string) => t === '-' || t.startsWith('- ')

function block(p: P, indent: number): Yaml {
  const l = p.lines[p.i]
  return isItem(l.text) ? seq(p, indent) : map(p, indent)
}

function seq(p: P, indent: number): Yaml[] {
  const out: Yaml[] = []
  while (p.i < p.lines.length) {
    const l = p.lines[p.i]
    if (l.indent !== indent || !isItem(l.text)) break
    const rest = l.text.slice(1).trimStart()
    if (rest === '') {
      p.i++
      out.push(p.i < p.lines.length && p.lines[p.i].indent > indent ? block(p, p.lines[p.i].indent) : null)
    } else if (keyOf(rest)) {
      // "- name: x" starts a mapping whose keys sit where "name" does.
      const at = indent + (l.text.length - rest.length)
      p.lines[p.i] = { no: l.no, indent: at, text: rest }
      out.push(map(p, at))
    } else {
      p.i++
      out.push(scalar(p, l, rest))
    }
  }
  return out
}

function map(p: P, indent: number): { [k: string]: Yaml } {
  const out: { [k: string]: Yaml } = {}
  while (p.i < p.lines.length) {
    const l = p.lines[p.i]
    if (l.indent < indent) break
    if (l.indent > indent) throw err(p, l, 'unexpected indentation')
    if (isItem(l.text)) break
    const kv = keyOf(l.text)
    if (!kv) throw err(p, l, `expected "key: value", got ${JSON.stringify(l.text.slice(0, 40))}`)
    p.i++
    const next = p.lines[p.i]
    let v: Yaml
    if (kv.value !== '') v = scalar(p, l, kv.value)
    else if (next && next.indent > indent) v = block(p, next.indent)
    else if (next && next.indent === indent && isItem(next.text)) v = seq(p, indent)
    else v = null
    out[kv.key] = v
  }
  return out
}

function keyOf(t: string): { key: string; value: string } | undefined {
  const q = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')\s*:(?:\s+(.*))?$/.exec(t)
  if (q) return { key: unquote(q[1]), value: q[2] ?? '' }
  const m = /^([^\s#'"{[\]}&*!|>%@`-][^:#]*?|-[^\s:#][^:#]*?)\s*:(?:\s+(.*))?$/.exec(t)
  return m ? { key: m[1], value: m[2] ?? '' } : undefined
}

function unquote(s: string): string {
  return s.startsWith('"') ? JSON.parse(s) : s.slice(1, -1).replace(/''/g, "'")
}

function scalar(p: P, l: Line, raw: string): Yaml {
  let s = raw
  if (s.startsWith('"') || s.startsWith("'")) {
    const m = s.startsWith('"') ? /^"(?:[^"\\]|\\.)*"/.exec(s) : /^'(?:[^']|'')*'/.exec(s)
    if (!m) throw err(p, l, 'unterminated quoted string')
    const tail = s.slice(m[0].length).trim()
    if (tail && !tail.startsWith('#')) throw err(p, l, 'text after a quoted string')
    try {
      return unquote(m[0])
    } catch {
      throw err(p, l, 'bad escape in a double-quoted string')
    }
  }
  s = s.replace(/\s+#.*$/, '')
  if (s === '{}') return {}
  if (s === '[]') return []
  if (/^[&*!|>{[]/.test(s)) throw err(p, l, `unsupported YAML (${JSON.stringify(s.slice(0, 20))}): anchors, tags, block scalars and flow collections`)
  if (s === 'true' || s === 'True' || s === 'TRUE') return true
  if (s === 'false' || s === 'False' || s === 'FALSE') return false
  if (s === 'null' || s === '~' || s === 'Null' || s === 'NULL') return null
  return s
}
