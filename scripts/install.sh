#!/usr/bin/env bash
# Install, upgrade or roll back kitchen-agent on a box (Debian 12, as root), offline.
#
#   install.sh [--wheelhouse DIR] [--root DIR] [--keep N] [--ready-timeout S] [--settle S]
#   install.sh --rollback [--root DIR] [--ready-timeout S] [--settle S]
#
#   --wheelhouse   a bundle made by scripts/build-wheelhouse.sh (default: the bundle this
#                  script sits in; from a source checkout, one is built first, online)
#   --rollback     go back to the previous version (and its unit files)
#   --root DIR     install into DIR instead of / (an image, or a test's throw-away root):
#                  files only, no apt, no remount; the service is managed only when
#                  $SYSTEMCTL names a systemctl to call
#   --keep N       versions kept in /opt/kitchen-agent (default 3; current and previous
#                  are never removed)
#   --ready-timeout S  how long the restarted service may take to report READY=1 (120)
#   --settle S     how long it must then keep running, unrestarted (15)
#
# Each version is its own virtualenv, /opt/kitchen-agent/<version>, and `current` points
# at the one in use. An upgrade installs beside the running version, checks the new one
# runs (`kitchen-agent --version`, `pip check`), switches `current` in one rename,
# restarts the service if it is enabled or running, and switches back by itself when the
# new version does not reach READY=1 or does not stay up. Exit codes: 0 done, 1 failed
# (after an automatic rollback when there was something to roll back to), 2 usage or a
# bundle that does not fit this box, 75 another install is running.
set -euo pipefail
umask 027
PROG=install.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
# shellcheck source=scripts/install-lib.sh
. "$HERE/install-lib.sh"

wheelhouse=""
mode=install
keep=3
READY_TIMEOUT_S=120
SETTLE_S=15
usage() {
  sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --wheelhouse) wheelhouse=${2:?--wheelhouse needs a folder}; shift 2 ;;
    --rollback) mode=rollback; shift ;;
    --root) set_root "${2:-}"; shift 2 ;;
    --keep) keep=${2:?--keep needs a number}; shift 2 ;;
    --ready-timeout) READY_TIMEOUT_S=${2:?--ready-timeout needs seconds}; shift 2 ;;
    --settle) SETTLE_S=${2:?--settle needs seconds}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "$PROG: unknown argument: $1" >&2; usage ;;
  esac
done
[[ $keep =~ ^[1-9][0-9]*$ ]] || die "--keep takes a number of versions (1 or more)" 2
[[ $READY_TIMEOUT_S =~ ^[0-9]+$ && $SETTLE_S =~ ^[0-9]+$ ]] || die "--ready-timeout and --settle take whole seconds" 2
require_root_user
init_systemctl
# The box's Python, whose virtualenvs run the agent.
PYTHON=${KITCHEN_AGENT_PYTHON:-/usr/bin/python3}

box_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x86_64 ;;
    aarch64 | arm64) echo aarch64 ;;
    *) uname -m ;;
  esac
}

manifest_value() { sed -n "s/^$2=//p" "$1/MANIFEST" | head -n 1; }

# The bundle must be whole and made for this box: its checksums, its architecture and the
# Python minor version its wheels were chosen for.
check_wheelhouse() {
  local dir=$1
  if [ ! -f "$dir/MANIFEST" ] || [ ! -f "$dir/SHA256SUMS" ]; then
    die "$dir is not a kitchen-agent wheelhouse (no MANIFEST/SHA256SUMS): make one with scripts/build-wheelhouse.sh" 2
  fi
  (cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS) >&2 \
    || die "$dir is damaged: a file does not match SHA256SUMS (copy the bundle again)" 2
  [ "$(manifest_value "$dir" name)" = kitchen-agent ] || die "$dir holds no kitchen-agent bundle" 2
  VERSION=$(manifest_value "$dir" version)
  [[ $VERSION =~ $KA_VERSION_RE ]] || die "$dir/MANIFEST: bad version '$VERSION'" 2
  local arch python
  arch=$(manifest_value "$dir" arch)
  if [ "$arch" != "$(box_arch)" ]; then
    die "this wheelhouse is for $arch but this box is $(box_arch): build one with scripts/build-wheelhouse.sh --arch $(box_arch)" 2
  fi
  python=$(manifest_value "$dir" python)
  local here
  here=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
    || die "no Python at $PYTHON (Debian: apt-get install python3)" 2
  [ "$python" = "$here" ] \
    || die "this wheelhouse is for Python $python but $PYTHON is Python $here" 2
}

# The agent runs the distribution's ffmpeg. A box without it gets it from apt (the one
# step that needs a network, or a local Debian mirror).
ensure_debian_packages() {
  [ -z "$ROOT" ] || return 0
  command -v dpkg-query >/dev/null || return 0
  if ! dpkg-query -W -f='${Status}' ffmpeg 2>/dev/null | grep -q "install ok installed"; then
    say "installing the Debian package ffmpeg"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg; } \
      || die "could not install ffmpeg: install it first (apt-get install ffmpeg)"
  fi
}

check_free_space() {
  local dir=$1 need_kb available_kb
  # An unpacked venv is about three times the size of its wheels.
  need_kb=$(($(du -sk "$dir/wheels" | cut -f1) * 3 + 51200))
  available_kb=$(df -Pk "$ROOT$KA_OPT" | awk 'NR == 2 { print $4 }')
  if ((available_kb < need_kb)); then
    die "not enough space in $ROOT$KA_OPT: $((available_kb / 1024)) MB free, $((need_kb / 1024)) MB needed (remove old versions or free space)"
  fi
}

# Build /opt/kitchen-agent/<version> from the bundle unless it is already there, complete
# and from the same bundle. A version folder is never changed once complete.
install_version() {
  local bundle=$1 version=$2
  local dir=$ROOT$KA_OPT/$version
  local stamp
  stamp=$(sha256sum "$bundle/SHA256SUMS" | cut -d' ' -f1)
  if [ -f "$dir/.complete" ]; then
    if [ "$(cat "$dir/.complete")" = "$stamp" ]; then
      say "kitchen-agent $version is already installed in $KA_OPT/$version"
      return 0
    fi
    [ "$(link_version current)" != "$version" ] \
      || die "kitchen-agent $version is running but this bundle of $version differs: give the new build a new version"
    say "replacing kitchen-agent $version (another build of it)"
  fi
  rm -rf "$dir"
  check_free_space "$bundle"
  say "installing kitchen-agent $version into $KA_OPT/$version"
  # The bundle's pinned pip fills the virtualenv, which holds no pip of its own: nothing
  # can be pip-installed over a version later. Code is not secret and technicians run
  # `kitchen-agent status` from it: world-readable.
  local pip_wheel
  pip_wheel=$(find "$bundle/tools" -maxdepth 1 -name 'pip-*.whl' | head -n 1)
  [ -n "$pip_wheel" ] || die "$bundle has no tools/pip-*.whl: rebuild it with scripts/build-wheelhouse.sh" 2
  (
    umask 022
    # The bundle only: no pip configuration, index or cache of this machine.
    while IFS= read -r variable; do unset "$variable"; done < <(compgen -e | grep '^PIP_' || true)
    export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
    "$PYTHON" -m venv --without-pip "$dir"
    "$dir/bin/python" "$pip_wheel/pip" install -q --no-deps "$bundle"/wheels/*.whl
    "$dir/bin/python" "$pip_wheel/pip" check >/dev/null
    local share=$dir/share/kitchen-agent
    mkdir -p "$share"
    cp -R "$bundle/scripts" "$bundle/systemd" "$bundle/config" "$share/"
    cp "$bundle/README.md" "$bundle/MANIFEST" "$bundle/requirements.lock" "$share/"
  ) || {
    rm -rf "$dir"
    die "could not install kitchen-agent $version from $bundle"
  }
  local reported
  reported=$("$dir/bin/kitchen-agent" --version 2>&1) || true
  if [ "$reported" != "kitchen-agent $version" ]; then
    rm -rf "$dir"
    die "the installed kitchen-agent $version does not run: '$reported'"
  fi
  echo "$stamp" >"$dir/.complete"
  chmod 0644 "$dir/.complete"
}

# Make a version the one in use: its unit files, users and folders, the credentials
# drop-in, /proc hidepid, then the `current` link. Does not restart anything.
activate() {
  local version=$1
  local share=$ROOT$KA_OPT/$version/share/kitchen-agent
  [ -d "$share/systemd" ] || die "$KA_OPT/$version is incomplete (no share/kitchen-agent)"
  system_dir "$ROOT$(dirname "$KA_UNIT_PATH")" "$ROOT$(dirname "$KA_SYSUSERS")" \
    "$ROOT$(dirname "$KA_TMPFILES")" "$ROOT$(dirname "$KA_BIN_LINK")"
  install -m 0644 "$share/systemd/kitchen-agent.service" "$ROOT$KA_UNIT_PATH"
  install -m 0644 "$share/systemd/kitchen-agent.sysusers" "$ROOT$KA_SYSUSERS"
  install -m 0644 "$share/systemd/kitchen-agent.tmpfiles" "$ROOT$KA_TMPFILES"
  run_sysusers >/dev/null
  # Owner and mode of the config folder and this file come from the tmpfiles lines.
  install -D -m 0640 "$share/config/agent.example.yaml" "$ROOT$KA_ETC/agent.example.yaml"
  run_tmpfiles
  write_credentials_dropin
  configure_hidepid
  switch_link current "$version"
  ln -sfn "$KA_OPT/current/bin/kitchen-agent" "$ROOT$KA_BIN_LINK.tmp"
  mv -Tf "$ROOT$KA_BIN_LINK.tmp" "$ROOT$KA_BIN_LINK"
  svc daemon-reload
}

# Keep at most $keep versions; never the current or the previous one.
prune_versions() {
  local current previous
  current=$(link_version current)
  previous=$(link_version previous)
  local -a versions=()
  local marker version
  while IFS= read -r marker; do
    version=$(basename "$(dirname "$marker")")
    versions+=("$version")
  done < <(find "$ROOT$KA_OPT" -mindepth 2 -maxdepth 2 -name .complete -printf '%T@ %p\n' \
    | sort -n | cut -d' ' -f2-)
  local excess=$((${#versions[@]} - keep))
  for version in "${versions[@]}"; do
    ((excess > 0)) || break
    if [ "$version" = "$current" ] || [ "$version" = "$previous" ]; then continue; fi
    say "removing old version $version"
    rm -rf "$ROOT$KA_OPT/${version:?}"
    excess=$((excess - 1))
  done
}

journal_hint() {
  if [ -z "$ROOT" ]; then
    echo "  see why: journalctl -u $KA_UNIT -n 50 --no-pager" >&2
  fi
}

# Switch from $from to $to and, when the service is meant to run, prove $to runs; when it
# does not, switch back to $from. Returns 0 when $to is in use.
switch_version() {
  local from=$1 to=$2
  local wanted=0
  service_wanted && wanted=1
  activate "$to"
  if ((wanted == 0)); then
    if have_service_manager; then
      say "kitchen-agent $to is in place; the service is not enabled, so it was not started"
    fi
    return 0
  fi
  say "restarting $KA_UNIT on kitchen-agent $to"
  if restart_and_verify; then
    say "kitchen-agent $to is running"
    return 0
  fi
  journal_hint
  if [ -z "$from" ]; then
    warn "kitchen-agent $to did not start and there is no earlier version to go back to"
    return 1
  fi
  warn "kitchen-agent $to did not start: going back to $from"
  activate "$from"
  if restart_and_verify; then
    say "rolled back: kitchen-agent $from is running again"
  else
    warn "kitchen-agent $from did not start either (a config or credential problem?)"
  fi
  return 1
}

do_install() {
  local bundle=$wheelhouse
  if [ -z "$bundle" ]; then
    if [ -f "$SRC/MANIFEST" ]; then
      bundle=$SRC
    else
      BUILT=$(mktemp -d)
      trap 'rm -rf "$BUILT"' EXIT
      say "no --wheelhouse: building one from $SRC (needs PyPI)"
      "$SRC/scripts/build-wheelhouse.sh" --output "$BUILT/wheelhouse" >&2
      bundle=$BUILT/wheelhouse
    fi
  fi
  bundle=$(cd "$bundle" && pwd)
  check_wheelhouse "$bundle"
  ensure_debian_packages
  take_lock
  install_version "$bundle" "$VERSION"
  local from
  from=$(link_version current)
  if [ "$from" = "$VERSION" ]; then
    activate "$VERSION" # unit files, users, drop-in and hidepid refreshed; no restart
    say "kitchen-agent $VERSION was already in use; system files refreshed"
    return 0
  fi
  if switch_version "$from" "$VERSION"; then
    if [ -n "$from" ]; then switch_link previous "$from"; fi
    prune_versions
    next_steps "$from"
    return 0
  fi
  if [ -n "$from" ]; then
    say "kitchen-agent $VERSION, which did not start, stays in $KA_OPT/$VERSION for a look" \
      "(removed with old versions later)"
  fi
  return 1
}

do_rollback() {
  take_lock
  local from to
  from=$(link_version current)
  to=$(link_version previous)
  if [ -z "$to" ] || [ ! -f "$ROOT$KA_OPT/$to/.complete" ]; then
    die "no previous version to roll back to in $KA_OPT" 1
  fi
  say "rolling back from kitchen-agent $from to $to"
  if switch_version "$from" "$to"; then
    switch_link previous "$from"
    return 0
  fi
  return 1
}

next_steps() {
  [ -z "$1" ] || return 0 # an upgrade: the box is already configured
  cat <<MSG
$PROG: kitchen-agent $VERSION installed. Next, as root:
  kitchen-agent config init ... --output $KA_ETC/agent.yaml
  chgrp kitchen-agent $KA_ETC/agent.yaml
  printf %s 'PASSWORD' > $KA_CREDENTIALS/camera-password      (and mqtt-password, stream-token)
  systemctl enable --now $KA_UNIT
Technicians: usermod -aG kitchen-tech NAME   (for \`kitchen-agent status\`)
MSG
}

case "$mode" in
  install) do_install ;;
  rollback) do_rollback ;;
esac
