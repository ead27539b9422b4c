#!/usr/bin/env bash
# What the tests need from the host, installed once (idempotent). `npm test` runs this first.
# Debian packages: socat (real pty pairs for serial and Modbus RTU tests); python3-pymodbus with
# python3-serial-asyncio and mbpoll (independent Modbus peers: pymodbus slaves, libmodbus's client); chromium
# (/usr/bin/chromium, driven by playwright-core in test/e2e/dashboard.test.ts); etcd-server and, to build
# kube-apiserver + kubectl from Debian's kubernetes source once (cached in ~/.cache/edgetwin), golang-go & co.
set -euo pipefail

has_pymodbus() { /usr/bin/python3 -c 'import pymodbus, serial_asyncio' >/dev/null 2>&1; }

need_packages=()
command -v socat >/dev/null 2>&1 || need_packages+=(socat)
command -v mbpoll >/dev/null 2>&1 || need_packages+=(mbpoll)
has_pymodbus || need_packages+=(python3-pymodbus python3-serial-asyncio)
[ -x /usr/bin/chromium ] || need_packages+=(chromium)

if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-host: installing ${need_packages[*]} (Debian packages)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_packages[@]}" >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_packages[@]}" >/dev/null; }
  fi
  missing=()
  command -v socat >/dev/null 2>&1 || missing+=(socat)
  command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
  has_pymodbus || missing+=(python3-pymodbus python3-serial-asyncio)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-host: the tests need the Debian packages ${missing[*]}: run  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# A real Kubernetes API server for test/k8s: built once, a no-op when cached.
bash "$(dirname "$0")/k8s/cluster.sh" build >/dev/null
