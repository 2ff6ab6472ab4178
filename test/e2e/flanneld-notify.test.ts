// Type=notify: flanneld tells systemd READY=1 once subnet.env is written, through systemd's own
// systemd-notify (Node has no unix datagram sockets). systemd is not PID 1 here, so the notify
// socket is a python listener standing in for it: it records each datagram and whether subnet.env
// existed when it arrived. Like systemd (NotifyAccess=all), it attributes each message by reading
// the sender's /proc/<pid>/cgroup, and it reads each message 0.5 s late, as a busy manager would:
// a sender already reaped by then would have its READY=1 dropped by systemd.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Scope, must, inNs, dist, waitFor } from '../helpers/scope.ts'
import { startEtcd, etcdctl } from '../helpers/etcd.ts'

const scope = new Scope()
after(() => scope.close())

const LISTENER = `
import os, select, socket, struct, sys, time
sock_path, watched = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sock_path)
print("listening", flush=True)
while True:
    select.select([s], [], [])
    time.sleep(0.5)
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(12))
    pid, attributable = 0, False
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(data) - len(data) % 4, 4):
                os.close(int.from_bytes(data[i:i + 4], sys.byteorder))
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
            try:
                open("/proc/%d/cgroup" % pid).read()
                attributable = open("/proc/%d/comm" % pid).read().strip()
            except OSError:
                pass
    print(repr(msg.decode()), "sender=" + str(pid), "attributable=" + str(attributable), "subnet.env=" + str(os.path.exists(watched)), flush=True)
`

test('flanneld sends READY=1 once, after subnet.env is written, when NOTIFY_SOCKET is set', { timeout: 60_000 }, async () => {
  const ns = scope.ns('ntf')
  must(['ip', '-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'])
  must(['ip', '-n', ns, 'addr', 'add', '10.98.0.2/24', 'dev', 'd0'])
  must(['ip', '-n', ns, 'link', 'set', 'd0', 'up'])
  must(['ip', '-n', ns, 'link', 'set', 'd1', 'up'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  assert.equal(etcdctl(etcd.endpoint, ['put', '/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}'], { netns: ns }).code, 0)
  const tmp = scope.tmp()
  const subnetFile = join(tmp, 'subnet.env')
  const sock = join(tmp, 'notify')
  const l = scope.spawn(['python3', '-c', LISTENER, sock, subnetFile])
  let got = ''
  l.stdout!.on('data', (d) => (got += d))
  await waitFor('the notify listener', () => got.includes('listening'), 10_000)
  // With the unit's capabilities only: systemd-notify cannot pass as flanneld (no CAP_SYS_ADMIN),
  // as under systemd, and the daemon must still do its work (rules, routes) with these two.
  const caps = ['setpriv', '--bounding-set=-all,+net_admin,+net_raw', '--inh-caps=-all', '--no-new-privs']
  const p = scope.spawn([...caps, process.execPath, dist('flanneld'), '--iface=d0', `--etcd-endpoints=${etcd.endpoint}`, `--subnet-file=${subnetFile}`, '--ip-masq'], {
    netns: ns,
    env: { ...process.env, NOTIFY_SOCKET: sock },
  })
  let log = ''
  p.stderr!.on('data', (d) => (log += d))
  await waitFor('READY=1 on the notify socket (a whole line)', () => /READY=1.*subnet\.env=\w+\n/.test(got), 30_000)
  const lines = got.split('\n').filter((x) => /READY=1/.test(x))
  console.log('# notify socket got: ' + got.trim().split('\n').join(' / '))
  assert.equal(lines.length, 1, got)
  assert.match(lines[0], /STATUS=subnet 10\.244\.\d+\.0\/24 written to .*subnet\.env/)
  assert.match(lines[0], /subnet\.env=True$/, 'READY=1 came after subnet.env existed')
  assert.match(lines[0], /attributable=systemd-notify /, "the sender's cgroup was still readable when the message was read")
  assert.doesNotMatch(log, /systemd-notify.*failed|cannot tell systemd/)
  await waitFor('the masquerade rules, made with CAP_NET_ADMIN and CAP_NET_RAW only', () => /-A FLANNEL-POSTRTG/.test(inNs(ns, ['iptables-save', '-t', 'nat']).stdout), 30_000)
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
  p.kill('SIGTERM')
  assert.equal(await exited, 0)
  assert.equal(got.split('\n').filter((x) => /READY=1/.test(x)).length, 1, 'once')
})
