#!/bin/sh
# Installs, upgrades or rolls back edgetwin on a gateway (Debian, Ubuntu, Raspberry Pi OS), from a bundle
# made by `edgetwin bundle`. Run as root from the unpacked bundle:
#
#   tar -xzf gateway.tar.gz && sudo ./edgetwin-<version>/install.sh
#
# Releases sit side by side under <prefix>/releases/<version>-<UTC time>; <prefix>/current points at the one
# that runs and <prefix>/previous at the one before, for --rollback. The twin database (/var/lib/edgetwin)
# and the configuration (/etc/edgetwin) are never replaced by an upgrade. Running it twice changes nothing.
set -eu
umask 022

ROOT=
PREFIX=/opt/edgetwin
CONFDIR=/etc/edgetwin
DATADIR=/var/lib/edgetwin
BINDIR=/usr/local/bin
UNITDIR=/etc/systemd/system
SERVICE=edgetwin
USER_NAME=edgetwin
SYSTEMD=1
ROLLBACK=0
REPLACE_CONFIG=0
KEEP=3
NODE_BIN=
BUNDLE=
CLEANUP=

say() { printf 'edgetwin install: %s\n' "$*"; }
die() {
  printf 'edgetwin install: %s\n' "$*" >&2
  exit 1
}

usage() {
  cat <<USAGE
usage: install.sh [options] [BUNDLE]     install or upgrade (BUNDLE: gateway.tar.gz or its unpacked directory;
                                          default: the bundle this script is in)
       install.sh --rollback [options]   switch back to the previous release and restart

  --root DIR        install under DIR (every path prefixed): no user, no chown, no systemctl (for tests, images)
  --prefix DIR      where releases go (default $PREFIX)
  --no-systemd      write the unit but do not run systemctl (no daemon-reload, enable or restart)
  --replace-config  replace /etc/edgetwin/edge.yaml and devices/ with the bundle's (the old ones are backed up)
  --keep N          releases to keep besides current and previous (default $KEEP)
  --node PATH       the Node to run with when the bundle has none (default: node on PATH)
USAGE
}

while [ $# -gt 0 ]; do
  case $1 in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --keep) KEEP=${2:?--keep needs a number}; shift 2 ;;
    --node) NODE_BIN=${2:?--node needs a path}; shift 2 ;;
    --no-systemd) SYSTEMD=0; shift ;;
    --rollback) ROLLBACK=1; shift ;;
    --replace-config) REPLACE_CONFIG=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) BUNDLE=$1; shift ;;
  esac
done
case $KEEP in '' | *[!0-9]*) die "--keep takes a number, not $KEEP" ;; esac

if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" = / ] && ROOT=
elif [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0 ...), or with --root DIR to install into a directory"
fi
P=$ROOT$PREFIX
C=$ROOT$CONFDIR
D=$ROOT$DATADIR

cleanup() {
  for path in $CLEANUP; do rm -rf "$path"; done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# Takes the install lock (two installs at once would fight over `current`).
mkdir -p "$P/releases"
mkdir "$P/.install-lock" 2>/dev/null ||
  die "another install.sh is running (if none is, remove $P/.install-lock)"
CLEANUP="$P/.install-lock"

# Points <prefix>/<name> at <target> atomically (a rename), so `current` is never missing.
switch_link() {
  ln -sfn "$1" "$P/.$2.new"
  mv -T "$P/.$2.new" "$P/$2"
}

systemd_live() {
  [ "$SYSTEMD" -eq 1 ] && [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

restart_service() {
  if ! systemd_live; then
    say "not restarting the service (${ROOT:+--root }${ROOT:---no-systemd or no systemd running})"
    return 0
  fi
  systemctl daemon-reload
  systemctl enable --quiet "$SERVICE"
  systemctl restart "$SERVICE"
  tries=0
  until systemctl is-active --quiet "$SERVICE"; do
    tries=$((tries + 1))
    [ "$tries" -lt 15 ] || die "$SERVICE did not become active: journalctl -u $SERVICE -n 50"
    sleep 1
  done
  say "$SERVICE is running ($(readlink "$P/current"))"
}

if [ "$ROLLBACK" -eq 1 ]; then
  [ -L "$P/previous" ] || die "nothing to roll back to: $P/previous does not exist"
  prev=$(readlink "$P/previous")
  cur=$(readlink "$P/current")
  [ -d "$P/$prev/app" ] || die "the previous release $P/$prev is gone"
  switch_link "$prev" current
  switch_link "$cur" previous
  say "rolled back: current -> $prev (previous -> $cur; --rollback again returns to it)"
  restart_service
  exit 0
fi

# The bundle: this script's own directory, an unpacked bundle, or a .tar.gz to unpack.
if [ -z "$BUNDLE" ]; then
  SRC=$(cd "$(dirname "$0")" && pwd)
elif [ -d "$BUNDLE" ]; then
  SRC=$(cd "$BUNDLE" && pwd)
elif [ -f "$BUNDLE" ]; then
  unpack=$(mktemp -d)
  CLEANUP="$CLEANUP $unpack"
  tar -xzf "$BUNDLE" -C "$unpack" || die "cannot unpack $BUNDLE"
  set -- "$unpack"/edgetwin-*
  if [ $# -ne 1 ] || [ ! -d "$1" ]; then die "$BUNDLE is not an edgetwin bundle (no single edgetwin-<version>/ in it)"; fi
  SRC=$1
else
  die "no bundle at $BUNDLE"
fi
if [ ! -f "$SRC/manifest.json" ] || [ ! -f "$SRC/app/dist/edgecore/cli/main.js" ]; then
  die "$SRC is not an unpacked edgetwin bundle (no manifest.json); make one with: edgetwin bundle --devices DIR --out gateway.tar.gz"
fi

# One manifest field ("key": "value" at a given indent; edgetwin bundle writes one per line).
field() {
  sed -n "s/^$1\"$2\": \"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" "$SRC/manifest.json" | head -n 1
}
RELEASE=$(field '  ' release)
ARCH=$(field '  ' arch)
ABI=$(field '    ' abi)
BUILT_NODE=$(field '    ' version)
CONTENTS=$(field '    ' sha256)
if [ -z "$RELEASE" ] || [ -z "$ARCH" ] || [ -z "$ABI" ]; then die "$SRC/manifest.json lacks release, arch or node.abi"; fi

if command -v sha256sum >/dev/null 2>&1; then
  say "checking the bundle's contents (SHA256SUMS)"
  [ "$(sha256sum "$SRC/SHA256SUMS" | cut -d ' ' -f 1)" = "$CONTENTS" ] ||
    die "SHA256SUMS does not match the manifest: the bundle is damaged or was changed"
  (cd "$SRC" && sha256sum --quiet --strict -c SHA256SUMS) || die "the bundle is damaged: files above differ"
else
  say "warning: no sha256sum, the bundle's contents are not checked"
fi

case $(uname -m) in
  x86_64 | amd64) HOST=x64 ;;
  aarch64 | arm64) HOST=arm64 ;;
  armv6l | armv7l | armv8l) HOST=arm ;;
  i386 | i686) HOST=ia32 ;;
  *) HOST=$(uname -m) ;;
esac
[ "$HOST" = "$ARCH" ] ||
  die "this bundle is for linux-$ARCH; this machine is $(uname -m): make the bundle on a $HOST machine (edgetwin bundle --help)"

# Node: the bundle's own, else one on this machine whose ABI is the one the native modules were built for.
SYSTEM_NODE=
if [ -x "$SRC/node/bin/node" ]; then
  "$SRC/node/bin/node" -e 0 || die "the bundled Node does not run on this machine (glibc older than 2.28?)"
  say "Node: bundled $("$SRC/node/bin/node" --version)"
else
  node=${NODE_BIN:-$(command -v node || true)}
  [ -n "$node" ] ||
    die "Node.js is not installed and the bundle has none: install Node ${BUILT_NODE%%.*} (e.g. NodeSource's nodejs), or make the bundle with --with-node"
  version=$("$node" -p process.versions.node) || die "$node does not run"
  abi=$("$node" -p process.versions.modules)
  [ "${version%%.*}" -ge 20 ] || die "Node $version ($node) is too old: edgetwin needs Node 20 or later, or a bundle made with --with-node"
  [ "$abi" = "$ABI" ] ||
    die "Node $version ($node) has module ABI $abi, the bundle's native modules (better-sqlite3) were built for ABI $ABI (Node $BUILT_NODE): install that Node major, or make the bundle with this Node or with --with-node"
  SYSTEM_NODE=$(cd "$(dirname "$node")" && pwd)/$(basename "$node")
  say "Node: $SYSTEM_NODE $version"
fi

# The system user (skipped under --root: the users of that tree are not this machine's).
if [ -n "$ROOT" ]; then
  say "--root: not creating user $USER_NAME (group dialout), not changing owners"
else
  getent group dialout >/dev/null || groupadd --system dialout
  if ! id -u "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$DATADIR" --no-create-home --shell /usr/sbin/nologin \
      --comment 'edgetwin edge' "$USER_NAME"
    say "created system user $USER_NAME"
  fi
  usermod -a -G dialout "$USER_NAME"
fi
own() {
  if [ -z "$ROOT" ]; then chown "$@"; fi
}

# The release: copied beside the others, then made current in one rename. The same bundle twice is one release.
current=$(readlink "$P/current" 2>/dev/null || true)
if [ -n "$current" ] && [ -f "$P/$current/manifest.json" ] &&
  [ "$(sed -n 's/^    "sha256": "\([^"]*\)",\{0,1\}$/\1/p' "$P/$current/manifest.json" | head -n 1)" = "$CONTENTS" ]; then
  NAME=${current#releases/}
  say "release $NAME is this bundle and is current: nothing to copy"
else
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  NAME=$RELEASE-$stamp
  n=1
  while [ -e "$P/releases/$NAME" ]; do
    n=$((n + 1))
    NAME=$RELEASE-$stamp-$n
  done
  partial=$P/releases/.$NAME.partial
  CLEANUP="$CLEANUP $partial"
  say "copying release $NAME"
  mkdir -p "$partial/bin"
  cp -R "$SRC/app" "$SRC/config" "$SRC/systemd" "$SRC/manifest.json" "$SRC/SHA256SUMS" "$SRC/install.sh" "$partial/"
  if [ -d "$SRC/node" ]; then cp -R "$SRC/node" "$partial/"; fi
  {
    echo '#!/bin/sh'
    echo "# edgetwin $RELEASE, installed by install.sh: this release's CLI with its Node."
    echo "system_node='$SYSTEM_NODE'"
    cat <<'WRAPPER'
release=$(dirname "$(dirname "$(readlink -f "$0")")")
node=$release/node/bin/node
[ -x "$node" ] || node=$system_node
exec "$node" --max-semi-space-size=4 --single-threaded-gc "$release/app/dist/edgecore/cli/main.js" "$@"
WRAPPER
  } >"$partial/bin/edgetwin"
  chmod 0755 "$partial/bin/edgetwin"
  own -R root:root "$partial"
  mv "$partial" "$P/releases/$NAME"
fi

# Configuration: the bundle's on first install; afterwards the gateway's own is kept.
mkdir -p "$C"
if [ "$REPLACE_CONFIG" -eq 1 ] && { [ -e "$C/edge.yaml" ] || [ -d "$C/devices" ]; }; then
  backup=$C/backup-$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$backup"
  for old in "$C/edge.yaml" "$C/devices"; do
    if [ -e "$old" ]; then mv "$old" "$backup/"; fi
  done
  say "--replace-config: the previous configuration is in $backup"
fi
if [ -e "$C/edge.yaml" ]; then
  say "kept $CONFDIR/edge.yaml (the bundle's is $PREFIX/releases/$NAME/config/edge.yaml; --replace-config to use it)"
else
  cp "$SRC/config/edge.yaml" "$C/edge.yaml"
  say "installed $CONFDIR/edge.yaml"
fi
if [ -d "$C/devices" ] && [ -n "$(ls -A "$C/devices")" ]; then
  say "kept $CONFDIR/devices/ (the bundle's are in $PREFIX/releases/$NAME/config/devices)"
else
  mkdir -p "$C/devices"
  cp -R "$SRC/config/devices/." "$C/devices/"
  say "installed $CONFDIR/devices/ ($(find "$C/devices" -type f | wc -l | tr -d ' ') files)"
fi
chmod 0750 "$C"
chmod -R u+rwX,g+rX,g-w,o-rwx "$C/edge.yaml" "$C/devices"
own -R root:"$USER_NAME" "$C"

# Data: the twin database stays where it is across upgrades and rollbacks.
mkdir -p "$D"
chmod 0700 "$D"
own "$USER_NAME:$USER_NAME" "$D"

# The unit (written under --no-systemd too; only systemctl is skipped).
mkdir -p "$ROOT$UNITDIR"
sed -e "s#@PREFIX@#$PREFIX#g" -e "s#@CONFDIR@#$CONFDIR#g" -e "s#@DATADIR@#$DATADIR#g" \
  "$SRC/systemd/edgetwin.service.in" >"$ROOT$UNITDIR/$SERVICE.service.new"
chmod 0644 "$ROOT$UNITDIR/$SERVICE.service.new"
mv "$ROOT$UNITDIR/$SERVICE.service.new" "$ROOT$UNITDIR/$SERVICE.service"

# Switch: previous <- what ran, current <- this release; the command on PATH follows current.
if [ -n "$current" ] && [ "$current" != "releases/$NAME" ]; then switch_link "$current" previous; fi
switch_link "releases/$NAME" current
mkdir -p "$ROOT$BINDIR"
ln -sfn "$PREFIX/current/bin/edgetwin" "$ROOT$BINDIR/edgetwin"
say "current -> releases/$NAME${current:+ (previous: ${current#releases/})}"

# Old releases: keep current, previous and the newest $KEEP.
previous=$(readlink "$P/previous" 2>/dev/null || true)
i=0
# shellcheck disable=SC2045 # newest first needs ls -t; release names are made above: no spaces, no newlines
for dir in $(ls -1dt "$P"/releases/*/ 2>/dev/null); do
  dir=${dir%/}
  i=$((i + 1))
  rel=releases/${dir##*/}
  if [ "$rel" = "releases/$NAME" ] || [ "$rel" = "$previous" ] || [ "$i" -le "$KEEP" ]; then continue; fi
  rm -rf "$dir"
  say "removed old release ${dir##*/}"
done

restart_service
say "installed edgetwin $RELEASE in $PREFIX; config $CONFDIR, data $DATADIR"
say "check it:  edgetwin edge --check --config $CONFDIR/edge.yaml    then: systemctl status $SERVICE"
