#!/usr/bin/env bash
# After adding or removing a camera's own password file, hand the change to systemd (as
# root):
#
#   printf %s 'PASSWORD' > /etc/kitchen-agent/credentials/camera-password.<camera-id>
#   refresh-credentials.sh [--no-restart] [--settle S] [--root DIR]
#
# Under systemd the agent reads secrets from $CREDENTIALS_DIRECTORY, which holds only the
# files the unit lists with LoadCredential=. This writes one LoadCredential= line per
# camera-password.<camera-id> file into
# /etc/systemd/system/kitchen-agent.service.d/credentials.conf, reloads systemd and
# restarts the running service so the agent sees the file (systemd copies credentials at
# start only), checking it comes back and stays up for --settle seconds (15).
# install.sh writes the same drop-in on every install, upgrade and rollback.
# On a box: /opt/kitchen-agent/current/share/kitchen-agent/scripts/refresh-credentials.sh
set -euo pipefail
umask 027
PROG=refresh-credentials.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/install-lib.sh
. "$HERE/install-lib.sh"

restart=1
SETTLE_S=15
while (($#)); do
  case "$1" in
    --no-restart) restart=0; shift ;;
    --settle) SETTLE_S=${2:?--settle needs seconds}; shift 2 ;;
    --root) set_root "${2:-}"; shift 2 ;;
    -h | --help) sed -n '5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    *) echo "$PROG: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $SETTLE_S =~ ^[0-9]+$ ]] || die "--settle takes whole seconds" 2
require_root_user
init_systemctl
[ -f "$ROOT$KA_UNIT_PATH" ] || die "kitchen-agent is not installed here (no $KA_UNIT_PATH)"
take_lock

write_credentials_dropin
say "$KA_CREDENTIALS_DROPIN: $CREDENTIALS_COUNT per-camera password(s)"
svc daemon-reload
if ((restart)) && have_service_manager && svc is-active --quiet "$KA_UNIT" 2>/dev/null; then
  say "restarting $KA_UNIT so it sees the change"
  restart_and_verify || die "$KA_UNIT did not come back after the restart"
fi
