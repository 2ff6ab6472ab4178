// The unit's EnvironmentFile (FLANNELD_* variables): read with systemd's rules for the simple
// cases (KEY=VALUE, # and ; comments, one level of quotes), so weft-install can check the flags
// it holds with flanneld's parser before the daemon ever starts.
import { readFileSync, existsSync } from 'node:fs'

export function parseEnvFile(text: string, path: string): Record<string, string> {
  const env: Record<string, string> = {}
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) return
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (!m) throw new Error(`${path}:${i + 1}: not KEY=VALUE: ${JSON.stringify(raw)}`)
    let v = m[2]
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1)
    env[m[1]] = v
  })
  return env
}

export function readEnvFile(path: string): Record<string, string> {
  return existsSync(path) ? parseEnvFile(readFileSync(path, 'utf8'), path) : {}
}
