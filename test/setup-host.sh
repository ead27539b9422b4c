#!/usr/bin/env bash
# What the tests need from the host, installed once (idempotent). `npm test` runs this first.
# Debian packages: socat (real pty pairs for serial and Modbus RTU tests); etcd-server and, to build
# kube-apiserver + kubectl from Debian's kubernetes source once (cached in ~/.cache/edgetwin), golang-go & co.
set -euo pipefail

need_packages=()
command -v socat >/dev/null 2>&1 || need_packages+=(socat)

if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-host: installing ${need_packages[*]} (Debian packages)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_packages[@]}" >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_packages[@]}" >/dev/null; }
  fi
  for pkg in "${need_packages[@]}"; do
    command -v "$pkg" >/dev/null 2>&1 || {
      echo "setup-host: the tests need the Debian package '$pkg': run  sudo apt-get install -y $pkg" >&2
      exit 1
    }
  done
fi

# A real Kubernetes API server for test/k8s: built once, a no-op when cached.
bash "$(dirname "$0")/k8s/cluster.sh" build >/dev/null
