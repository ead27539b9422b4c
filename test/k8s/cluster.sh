#!/usr/bin/env bash
# A throwaway Kubernetes API server for tests: etcd + kube-apiserver on free loopback ports, no nodes.
#   cluster.sh build            build kube-apiserver and kubectl once from Debian's `kubernetes` source
#                               package (cached by its version); prints the bin dir. Idempotent, fast when cached.
#   cluster.sh bin              prints the cached bin dir (exit 1 when not built)
#   cluster.sh up <state-dir>   starts etcd + kube-apiserver with all state in <state-dir>, waits for /readyz,
#                               writes <state-dir>/kubeconfig (static admin token, system:masters) and prints its path
#   cluster.sh down <state-dir> stops both and removes their data. Idempotent.
# up also writes <state-dir>/etcd-url; $EDGETWIN_APISERVER_ARGS adds kube-apiserver flags (word-split).
# Cache root: $EDGETWIN_CACHE (default ~/.cache/edgetwin); binaries in <cache>/k8s-<source version>/bin.
set -euo pipefail

cache_root="${EDGETWIN_CACHE:-$HOME/.cache/edgetwin}"
src_list=/etc/apt/sources.list.d/edgetwin-kubernetes-src.list

log() { echo "cluster.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# The newest complete cached build, if any.
cached_bin() {
  local dir
  while IFS= read -r dir; do
    if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kubectl" ]; then
      echo "$dir"
      return 0
    fi
  done < <(printf '%s\n' "$cache_root"/k8s-*/bin | sort -rV)
  return 1
}

# Installs Debian packages that are missing (by package name); exit 1 naming them when it cannot.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "the Kubernetes test cluster needs the Debian packages: ${missing[*]} (run  sudo apt-get install -y ${missing[*]})"
  fi
  log "installing ${missing[*]} (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "could not install the Debian packages: ${missing[*]}"
  # Where the package starts an etcd service of its own (systemd), stop it: the tests run their own etcd.
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null 2>&1 &&
    systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
}

runtime_packages=(etcd-server openssl)

# deb-src lines for the Debian mirrors already configured (one-line and deb822 formats).
deb_src_lines() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && [ "$f" != "$src_list" ] || continue
    sed -n 's/^[[:space:]]*deb[[:space:]]\(.*debian.*\)$/deb-src \1/p' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; comps = ""; signed = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/) continue
          split($i, kv, ":[[:space:]]*"); key = tolower(kv[1]); val = substr($i, index($i, ":") + 1)
          gsub(/^[[:space:]]+|[[:space:]]+$/, "", val)
          if (key == "types") types = val; else if (key == "uris") uris = val
          else if (key == "suites") suites = val; else if (key == "components") comps = val
          else if (key == "signed-by") signed = val; else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled == "no" || (" " types " ") !~ / deb / || uris !~ /debian/) next
        opt = (signed != "" && signed !~ /^-/) ? "[signed-by=" signed "] " : ""
        nu = split(uris, u, /[[:space:]]+/); ns = split(suites, s, /[[:space:]]+/)
        for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print "deb-src " opt u[a] " " s[b] " " comps
      }' "$f"
  done
}

cmd_build() {
  local bin
  if bin=$(cached_bin); then
    apt_install "${runtime_packages[@]}"
    echo "$bin"
    return 0
  fi
  apt_install "${runtime_packages[@]}" golang-go make rsync jq dpkg-dev \
    golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev
  mkdir -p "$cache_root"
  # One build at a time (parallel test workers, setup-host and CI may all ask).
  exec 9>"$cache_root/build.lock"
  flock 9
  if bin=$(cached_bin); then
    echo "$bin"
    return 0
  fi

  local work="$cache_root/build"
  rm -rf "$work"
  mkdir -p "$work"
  local started=$SECONDS
  log "fetching Debian's kubernetes source package"
  local lines
  lines=$(deb_src_lines | sort -u)
  [ -n "$lines" ] || die "no Debian mirror found in /etc/apt/sources.list(.d) to fetch the kubernetes source package from"
  printf '%s\n' "$lines" >"$src_list"
  trap 'rm -f "$src_list"' EXIT
  apt-get update >/dev/null 2>&1 || log "apt-get update reported errors (continuing)"
  (cd "$work" && apt-get source kubernetes >source.log 2>&1) ||
    { tail -n 20 "$work/source.log" >&2; die "apt-get source kubernetes failed"; }
  rm -f "$src_list"
  trap - EXIT

  local dsc version src
  dsc=$(ls "$work"/kubernetes_*.dsc | head -n 1)
  version=$(sed -n 's/^Version:[[:space:]]*//p' "$dsc" | head -n 1)
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n 1)
  [ -n "$version" ] && [ -n "$src" ] || die "unexpected layout of the kubernetes source package in $work"
  local out="$cache_root/k8s-$version/bin"
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ]; then
    rm -rf "$work"
    echo "$out"
    return 0
  fi

  # The vendored reflect2 1.0.1 crashes under Go >= 1.18 (fatal error: fault in UnsafeMapType.UnsafeIterate on
  # the first custom-resource request): use Debian's reflect2 1.0.2 and json-iterator 1.1.12 instead.
  local gocode=/usr/share/gocode/src/github.com
  rm -rf "$src/vendor/github.com/modern-go/reflect2" "$src/vendor/github.com/json-iterator/go"
  cp -rL "$gocode/modern-go/reflect2" "$src/vendor/github.com/modern-go/reflect2"
  cp -rL "$gocode/json-iterator/go" "$src/vendor/github.com/json-iterator/go"

  # As debian/rules builds it: GOPATH mode, no module downloads, static binaries.
  log "building kube-apiserver and kubectl $version (a few minutes; log: $work/build.log)"
  mkdir -p "$src/.go/src/k8s.io"
  ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
  (cd "$src" && env HOME="$work/home" GOPATH="$src/.go" GOPROXY=off GO111MODULE=off GOFLAGS= CGO_ENABLED=0 \
    PATH="/usr/lib/go/bin:$PATH" make WHAT="cmd/kube-apiserver cmd/kubectl" >"$work/build.log" 2>&1) ||
    { tail -n 30 "$work/build.log" >&2; die "building kube-apiserver failed (full log: $work/build.log)"; }

  mkdir -p "$out.tmp"
  cp "$src/_output/bin/kube-apiserver" "$src/_output/bin/kubectl" "$out.tmp/"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  rm -rf "$work"
  log "built in $((SECONDS - started)) s"
  echo "$out"
}

cmd_bin() {
  cached_bin || die "kube-apiserver is not built: run  bash $0 build"
}

# Free loopback TCP ports (all held open together, so they differ).
free_ports() {
  node -e '
    const net = require("node:net");
    const n = Number(process.argv[1]);
    const servers = Array.from({ length: n }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, "127.0.0.1", () => ok(s.address().port)))))
      .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); });
  ' "$1"
}

# True while <pid file>'s process is alive and was started for <state-dir> (a recycled pid is left alone).
ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$2"
}

stop_pid() {
  local pidfile=$1 state=$2 pid
  if ours "$pidfile" "$state"; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    # (An exited child not yet reaped is a zombie: its state is Z.)
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

cmd_down() {
  local state=${1:?usage: cluster.sh down <state-dir>}
  [ -d "$state" ] || return 0
  state=$(cd "$state" && pwd)
  stop_pid "$state/kube-apiserver.pid" "$state"
  stop_pid "$state/etcd.pid" "$state"
  local data
  data=$(readlink "$state/etcd-data" 2>/dev/null || true)
  [ -n "$data" ] && rm -rf "$data"
  rm -rf "$state/etcd-data"
}

cmd_up() {
  local state=${1:?usage: cluster.sh up <state-dir>}
  local bin
  bin=$(cmd_bin)
  command -v etcd >/dev/null 2>&1 || die "etcd is missing (Debian package etcd-server): run  bash $0 build"
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  cmd_down "$state"

  # Certificates: a CA, the serving certificate for 127.0.0.1, and the service-account signing key.
  # (OPENSSL_CONF is dropped: node-opcua sets it in its process to a file of its own, which may be gone.)
  local pki="$state/pki"
  mkdir -p "$pki"
  (
    unset OPENSSL_CONF
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=edgetwin-test-ca \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes.default.svc\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile apiserver.ext -out apiserver.crt
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
  ) 2>>"$pki/openssl.log" || true
  for made in ca.crt apiserver.crt apiserver.key sa.key sa.pub; do
    [ -s "$pki/$made" ] || die "openssl could not make $pki/$made: $(tail -n 3 "$pki/openssl.log" 2>/dev/null)"
  done
  local token
  token=$(openssl rand -hex 24)
  printf '%s,admin,admin,system:masters\n' "$token" >"$pki/tokens.csv"
  chmod 600 "$pki"/*.key "$pki/tokens.csv"

  # etcd's data on tmpfs when there is one (fsync there is free); <state-dir>/etcd-data points at it.
  # (etcd gets the link as --data-dir, so its command line names <state-dir>: see ours.)
  local data="$state/etcd-data"
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    ln -sfn "$(mktemp -d /dev/shm/edgetwin-etcd.XXXXXX)" "$data"
  else
    mkdir -p "$data"
  fi

  local etcd_port peer_port api_port
  read -r etcd_port peer_port api_port < <(free_ports 3)
  local etcd_url="http://127.0.0.1:$etcd_port"
  setsid etcd --name edgetwin --data-dir "$data" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "edgetwin=http://127.0.0.1:$peer_port" --initial-cluster-state new \
    --log-level warn --logger zap \
    </dev/null >"$state/etcd.log" 2>&1 &
  echo $! >"$state/etcd.pid"
  echo "$etcd_url" >"$state/etcd-url"

  mkdir -p "$state/certs"
  setsid "$bin/kube-apiserver" \
    --etcd-servers "$etcd_url" \
    --bind-address 127.0.0.1 --secure-port "$api_port" --insecure-port 0 \
    --cert-dir "$state/certs" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --token-auth-file "$pki/tokens.csv" --authorization-mode RBAC \
    --service-cluster-ip-range 10.0.0.0/24 --endpoint-reconciler-type none \
    ${EDGETWIN_APISERVER_ARGS:-} \
    </dev/null >"$state/kube-apiserver.log" 2>&1 &
  echo $! >"$state/kube-apiserver.pid"

  local server="https://127.0.0.1:$api_port"
  cat >"$state/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: edgetwin
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: edgetwin
  context:
    cluster: edgetwin
    user: admin
    namespace: default
current-context: edgetwin
EOF
  chmod 600 "$state/kubeconfig"

  local deadline=$((SECONDS + ${EDGETWIN_K8S_TIMEOUT:-60}))
  until "$bin/kubectl" --kubeconfig "$state/kubeconfig" --request-timeout 2s get --raw /readyz >/dev/null 2>&1; do
    if ! ours "$state/kube-apiserver.pid" "$state" || ! ours "$state/etcd.pid" "$state" || [ $SECONDS -ge $deadline ]; then
      log "kube-apiserver did not become ready; last lines of $state/kube-apiserver.log:"
      tail -n 30 "$state/kube-apiserver.log" >&2 || true
      ours "$state/etcd.pid" "$state" || { log "etcd exited; last lines of $state/etcd.log:"; tail -n 15 "$state/etcd.log" >&2 || true; }
      cmd_down "$state"
      exit 1
    fi
    sleep 0.2
  done
  echo "$state/kubeconfig"
}

case "${1:-}" in
build) cmd_build ;;
bin) cmd_bin ;;
up) cmd_up "${2:-}" ;;
down) cmd_down "${2:-}" ;;
*)
  echo "usage: cluster.sh build | bin | up <state-dir> | down <state-dir>" >&2
  exit 2
  ;;
esac
