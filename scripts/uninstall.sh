#!/usr/bin/env bash
# Remove kitchen-agent from a box (as root).
#
#   uninstall.sh [--purge] [--root DIR]
#
# Stops and disables the service and removes the code (/opt/kitchen-agent, every
# version), the unit and its drop-ins, the sysusers and tmpfiles entries, the
# /usr/local/bin/kitchen-agent link and the /proc hidepid line the installer added.
# Kept unless --purge: the config and credentials (/etc/kitchen-agent) and the state
# (/var/lib/kitchen-agent: outbox of undelivered events, camera references), so a
# reinstall picks up where the box left off. The kitchen-agent user and the kitchen-tech
# group are always kept: files elsewhere may still belong to them, and a new account
# must not inherit their ids.
set -euo pipefail
umask 027
PROG=uninstall.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/install-lib.sh
. "$HERE/install-lib.sh"

purge=0
while (($#)); do
  case "$1" in
    --purge) purge=1; shift ;;
    --root) set_root "${2:-}"; shift 2 ;;
    -h | --help) sed -n '4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    *) echo "$PROG: unknown argument: $1" >&2; exit 2 ;;
  esac
done
require_root_user
init_systemctl
[ -d "$ROOT$KA_OPT" ] || [ -f "$ROOT$KA_UNIT_PATH" ] || [ "$purge" = 1 ] \
  || die "kitchen-agent is not installed here" 1
take_lock

if have_service_manager; then
  svc stop "$KA_UNIT" 2>/dev/null || true
  svc disable "$KA_UNIT" 2>/dev/null || true
fi
rm -f "$ROOT$KA_UNIT_PATH"
rm -rf "$ROOT$KA_DROPIN_DIR"
rm -f "$ROOT$KA_SYSUSERS" "$ROOT$KA_TMPFILES"
if [ -L "$ROOT$KA_BIN_LINK" ] && [[ $(readlink "$ROOT$KA_BIN_LINK") == "$KA_OPT"/* ]]; then
  rm -f "$ROOT$KA_BIN_LINK"
fi
unconfigure_hidepid
svc daemon-reload 2>/dev/null || true
# The lock file goes with the folder; the open descriptor keeps the lock held until exit.
rm -rf "$ROOT$KA_OPT"
if [ "$purge" = 1 ]; then
  rm -rf "$ROOT$KA_ETC" "$ROOT$KA_STATE" "$ROOT/run/kitchen-agent"
  say "kitchen-agent removed with its config, credentials and state"
else
  say "kitchen-agent removed; kept $KA_ETC (config, credentials) and $KA_STATE (state): --purge removes them"
fi
