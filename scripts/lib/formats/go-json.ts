// Go's encoding/json reads an object into a struct by field name: an exact key wins, else the
// first key equal to the name but for case. flannel's config, leases and backend data are read
// that way, so weft reads them with this one function.
export function goField(o: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name]
  const lower = name.toLowerCase()
  for (const k in o) if (k.length === name.length && k.toLowerCase() === lower) return o[k]
  return undefined
}
