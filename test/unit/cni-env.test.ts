// The skel's environment, stdin and version checks: codes and messages (reference/cni.md 1.1).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkVersion, readEnv, validateConfig } from '../../scripts/lib/cni/env.ts'
import { CniError, formatError } from '../../scripts/lib/cni/error.ts'
import { delegateError } from '../../scripts/lib/cni/exec.ts'

const ok = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' }

function err(f: () => unknown): { code: number; msg: string; details: string } {
  try {
    f()
  } catch (e) {
    assert.ok(e instanceof CniError, `not a CniError: ${e}`)
    return { code: e.code, msg: e.message, details: e.details }
  }
  assert.fail('did not throw')
}

test('no CNI_COMMAND: null (about text); VERSION needs nothing else', () => {
  assert.equal(readEnv({}), null)
  assert.equal(readEnv({ CNI_COMMAND: 'VERSION' })?.command, 'VERSION')
})

test('missing variables are listed comma-joined in the reference order, code 4', () => {
  assert.deepEqual(
    err(() => readEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0' })),
    { code: 4, msg: 'required env variables [CNI_NETNS,CNI_PATH] missing', details: '' },
  )
  assert.deepEqual(
    err(() => readEnv({ CNI_COMMAND: 'DEL' })),
    { code: 4, msg: 'required env variables [CNI_CONTAINERID,CNI_IFNAME,CNI_PATH] missing', details: '' },
  )
  assert.deepEqual(
    err(() => readEnv({ CNI_COMMAND: 'GC' })),
    { code: 4, msg: 'required env variables [CNI_PATH] missing', details: '' },
  )
})

test('container ID and interface name checks, code 4', () => {
  assert.deepEqual(
    err(() => readEnv({ ...ok, CNI_CONTAINERID: '../../etc/x' })),
    { code: 4, msg: 'invalid characters in containerID', details: '../../etc/x' },
  )
  assert.deepEqual(
    err(() => readEnv({ ...ok, CNI_IFNAME: 'a'.repeat(16) })),
    { code: 4, msg: 'interface name is too long', details: 'interface name should be less than 16 characters' },
  )
  assert.equal(readEnv({ ...ok, CNI_IFNAME: 'a'.repeat(15) })?.ifname, 'a'.repeat(15))
  assert.equal(err(() => readEnv({ ...ok, CNI_IFNAME: 'eth0:1' })).msg, 'interface name contains / or : or whitespace characters')
  assert.equal(err(() => readEnv({ ...ok, CNI_IFNAME: '..' })).msg, 'interface name is . or ..')
  // the ID is checked before a missing variable is reported
  assert.equal(err(() => readEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a/b' })).msg, 'invalid characters in containerID')
})

test('stdin: JSON, object, network name (codes 6 and 7)', () => {
  assert.equal(err(() => validateConfig('{')).code, 6)
  assert.match(err(() => validateConfig('{')).msg, /^error unmarshall network config: /)
  assert.equal(err(() => validateConfig('[1]')).msg, 'error unmarshall network config: json: cannot unmarshal array into Go value of type struct { Name string "json:\\"name\\"" }')
  assert.deepEqual(
    err(() => validateConfig('{}')),
    { code: 7, msg: 'missing network name', details: '' },
  )
  assert.deepEqual(
    err(() => validateConfig('{"name":"a/b"}')),
    { code: 7, msg: 'invalid characters found in network name', details: 'a/b' },
  )
})

test('version rules: exact match, CHECK 0.4.0+, GC/STATUS 1.1.0+', () => {
  checkVersion('ADD', '0.1.0')
  checkVersion('GC', '1.1.0')
  assert.deepEqual(
    err(() => checkVersion('ADD', '0.5.0')),
    {
      code: 1,
      msg: 'incompatible CNI versions',
      details: 'config is "0.5.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]',
    },
  )
  assert.deepEqual(
    err(() => checkVersion('CHECK', '0.3.1')),
    { code: 1, msg: 'config version does not allow CHECK', details: '' },
  )
  assert.equal(err(() => checkVersion('STATUS', '1.0.0')).msg, 'config version does not allow STATUS')
  assert.equal(err(() => checkVersion('GC', '1.0.0')).msg, 'config version does not allow GC')
})

test('error JSON: 4-space indent, no cniVersion, details omitted when empty, no newline', () => {
  assert.equal(formatError(new CniError(999, 'x')), '{\n    "code": 999,\n    "msg": "x"\n}')
  assert.equal(formatError(new CniError(4, 'a', 'b')), '{\n    "code": 4,\n    "msg": "a",\n    "details": "b"\n}')
})

test('a failed delegate: its error passed through, or the Go lib texts', () => {
  const e = delegateError({ code: 1, stdout: '{"cniVersion":"0.3.1","code":11,"msg":"m","details":"d"}', stderr: '' })
  assert.deepEqual([e.code, e.message, e.details], [11, 'm', 'd'])
  assert.equal(delegateError({ code: 2, stdout: '', stderr: 'boom\n' }).message, 'netplugin failed: "boom\\n"')
  assert.equal(delegateError({ code: 3, stdout: '', stderr: '' }).message, 'netplugin failed with no error message: exit status 3')
  assert.match(delegateError({ code: 1, stdout: 'oops', stderr: '' }).message, /^netplugin failed but error parsing its diagnostic message "oops": /)
})
