#!/usr/bin/env bash
# Everything the lab and the tests need on a fresh Debian machine, installed only when missing:
# Debian packages (iproute2, iptables, nftables, etcd, the reference CNI plugins) and npm deps.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "weft: $1 needs root (network namespaces, iptables); run it with sudo" >&2
    exit 1
  fi
}
need_root "setup"

pkgs=()
command -v ip >/dev/null       || pkgs+=(iproute2)
command -v iptables >/dev/null || pkgs+=(iptables)
command -v nft >/dev/null      || pkgs+=(nftables)
command -v ping >/dev/null     || pkgs+=(iputils-ping)
command -v etcd >/dev/null     || pkgs+=(etcd-server)
command -v etcdctl >/dev/null  || pkgs+=(etcd-client)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || pkgs+=(containernetworking-plugins)
command -v node >/dev/null     || pkgs+=(nodejs npm)
# The tests (not the lab) also run the real judges of what weft emits and real Kubernetes clients
# against the API double: promtool, systemd-analyze, cloud-init schema, python3-kubernetes, openssl;
# and podman (cni backend, runc, a busybox-static root filesystem) as a real container runtime,
# mmdebstrap for the image's base (no registry needed).
if [ "${1:-}" = "--judges" ]; then
  command -v promtool >/dev/null        || pkgs+=(prometheus)
  command -v systemd-analyze >/dev/null || pkgs+=(systemd)
  command -v cloud-init >/dev/null      || pkgs+=(cloud-init)
  command -v openssl >/dev/null         || pkgs+=(openssl)
  /usr/bin/python3 -c 'import kubernetes, yaml' 2>/dev/null || pkgs+=(python3-kubernetes python3-yaml)
  command -v podman >/dev/null          || pkgs+=(podman)
  command -v runc >/dev/null            || pkgs+=(runc)
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || pkgs+=(busybox-static)
  command -v mmdebstrap >/dev/null      || pkgs+=(mmdebstrap)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "weft: installing Debian packages: ${pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${pkgs[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${pkgs[@]}" >/dev/null; }
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "weft: Node.js >= 20 is needed, this machine has $(node --version)" >&2
  exit 1
fi

# npm ci only when package-lock.json changed since the last install.
stamp=node_modules/.weft-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "weft: npm ci" >&2
  npm ci --no-audit --no-fund >/dev/null
  echo "$want" > "$stamp"
fi

# The image test's Debian base (test/e2e/image-build.test.ts): built once from Debian's packages,
# like the apt step above, so the test itself downloads nothing; kept for later runs.
if [ "${1:-}" = "--judges" ]; then
  base=/var/cache/weft/base-bookworm-minbase.tar
  if [ ! -f "$base" ]; then
    rm -rf "$base" "$base.part"
    echo "weft: building the image test's Debian base ($base, mmdebstrap minbase bookworm)" >&2
    mkdir -p /var/cache/weft
    mmdebstrap --quiet --format=tar --variant=minbase --include=iproute2,iptables,nftables bookworm "$base.part" && mv "$base.part" "$base"
  fi
fi
