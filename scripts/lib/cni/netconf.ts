// flannel's NetConf, decoded with Go's rules: a wrong JSON type in a known field fails the decode
// (with Go's message), null is the same as absent, unknown keys are ignored. Strings are kept as
// given: `"subnetFile": ""` stays "" and the later open fails, as in flannel.
import { isObject, jsonKind } from '../formats/cni-json.ts'

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env'
export const DEFAULT_DATA_DIR = '/var/lib/cni/flannel'

export interface Attachment {
  containerID: string
  ifname: string
}

export interface NetConf {
  cniVersion: string
  name: string
  type: string
  subnetFile: string
  dataDir: string
  delegate?: Record<string, unknown>
  ipam?: Record<string, unknown>
  runtimeConfig?: Record<string, unknown>
  prevResult?: Record<string, unknown>
  validAttachments?: Attachment[]
  /** libcni's full list of known attachments (GC); used only to learn an ifname */
  attachments?: Attachment[]
}

function typeErr(v: unknown, field: string, goType: string): Error {
  return new Error(`json: cannot unmarshal ${jsonKind(v)} into Go struct field NetConf.${field} of type ${goType}`)
}

function str(o: Record<string, unknown>, k: string, dflt: string): string {
  const v = o[k]
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'string') throw typeErr(v, k, 'string')
  return v
}

function obj(o: Record<string, unknown>, k: string): Record<string, unknown> | undefined {
  const v = o[k]
  if (v === undefined || v === null) return undefined
  if (!isObject(v)) throw typeErr(v, k, 'map[string]interface {}')
  return v
}

function strList(v: unknown, field: string): void {
  if (v === undefined || v === null) return
  if (!Array.isArray(v)) throw typeErr(v, field, '[]string')
  for (const s of v) if (s !== null && typeof s !== 'string') throw typeErr(s, field, 'string')
}

function attachments(o: Record<string, unknown>, k: string): Attachment[] | undefined {
  const v = o[k]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) throw typeErr(v, k, '[]types.GCAttachment')
  return v.map((a) => {
    if (a === null) return { containerID: '', ifname: '' }
    if (!isObject(a)) throw typeErr(a, k, 'types.GCAttachment')
    return { containerID: str(a, 'containerID', ''), ifname: str(a, 'ifname', '') }
  })
}

function lenient<T>(f: () => T): T | undefined {
  try {
    return f()
  } catch {
    return undefined
  }
}

/** Decode a parsed config object as flannel's NetConf; throws Go's decode error text. */
export function decodeNetConf(o: Record<string, unknown>): NetConf {
  const caps = o.capabilities
  if (caps !== undefined && caps !== null) {
    if (!isObject(caps)) throw typeErr(caps, 'capabilities', 'map[string]bool')
    for (const v of Object.values(caps)) if (v !== null && typeof v !== 'boolean') throw typeErr(v, 'capabilities', 'bool')
  }
  const dns = o.dns
  if (dns !== undefined && dns !== null) {
    if (!isObject(dns)) throw typeErr(dns, 'dns', 'types.DNS')
    strList(dns.nameservers, 'dns.nameservers')
    strList(dns.search, 'dns.search')
    strList(dns.options, 'dns.options')
    if (dns.domain !== undefined && dns.domain !== null && typeof dns.domain !== 'string') throw typeErr(dns.domain, 'dns.domain', 'string')
  }
  return {
    cniVersion: str(o, 'cniVersion', ''),
    name: str(o, 'name', ''),
    type: str(o, 'type', ''),
    subnetFile: str(o, 'subnetFile', DEFAULT_SUBNET_FILE),
    dataDir: str(o, 'dataDir', DEFAULT_DATA_DIR),
    delegate: obj(o, 'delegate'),
    ipam: obj(o, 'ipam'),
    runtimeConfig: obj(o, 'runtimeConfig'),
    prevResult: obj(o, 'prevResult'),
    validAttachments: attachments(o, 'cni.dev/valid-attachments'),
    // not a field of Go's NetConf: a malformed list is ignored, never a decode error
    attachments: lenient(() => attachments(o, 'cni.dev/attachments')),
  }
}
