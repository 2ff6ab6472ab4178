// Tells systemd the daemon is ready (Type=notify) once subnet.env is written. Node has no unix
// datagram sockets, so the datagram is sent by systemd's own `systemd-notify --ready`, our child;
// the unit says NotifyAccess=all so systemd accepts it from a process other than flanneld.
// systemd attributes such a message to a unit by the sender's cgroup, read when it gets to the
// message: a sender already gone would have it dropped. systemd-notify (252 here, measured with
// strace) sends READY=1 then BARRIER=1 with a pipe and waits until systemd has processed both, so
// it is alive while systemd reads it. (Without CAP_SYS_ADMIN, which the unit drops, it cannot
// claim to be flanneld, so this wait is what makes it work; test/e2e/flanneld-notify.test.ts.)
// Outside systemd (no NOTIFY_SOCKET) this does nothing.
import { spawn } from 'node:child_process'
import { log } from '../core/log.ts'

export function notifyReady(status: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false)
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', ['--ready', `--status=${status}`], { stdio: ['ignore', 'ignore', 'pipe'], env })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    child.on('error', (e) => {
      log(`warning: cannot tell systemd we are ready: systemd-notify: ${e.message}`)
      resolve(false)
    })
    child.on('close', (code) => {
      if (code !== 0) log(`warning: systemd-notify --ready failed (exit ${code}): ${err.trim()}`)
      resolve(code === 0)
    })
  })
}
