// The two kinds of registry failure every part tells apart, whichever registry it has (etcd or
// Kubernetes): transient (unreachable, throttled, a server error: keep what is in place, retry,
// say so) and permanent (refused credentials or rights, an untrusted server: say exactly what is
// wrong once and stop; retrying would only hide it).
export class TransientError extends Error {}

export class PermanentError extends Error {}
