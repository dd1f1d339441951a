#!/usr/bin/env bash
# Install kitchen-agent on a box (Debian 12, as root).
#   scripts/install.sh [--wheelhouse DIR]
# With --wheelhouse (made by scripts/build-wheelhouse.sh on a connected machine) the install
# is fully offline. Config goes to /etc/kitchen-agent, state to /var/lib/kitchen-agent,
# the code to /opt/kitchen-agent/venv. Safe to run again for an upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELHOUSE=""
if [ "${1:-}" = "--wheelhouse" ]; then WHEELHOUSE=$2; fi
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 2; }

need=()
for package in ffmpeg python3-venv; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need+=("$package")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

install -d -m 0755 /opt/kitchen-agent
[ -x /opt/kitchen-agent/venv/bin/python ] || python3 -m venv /opt/kitchen-agent/venv
if [ -n "$WHEELHOUSE" ]; then
  /opt/kitchen-agent/venv/bin/pip install -q --no-index --find-links "$WHEELHOUSE" kitchen-agent
else
  /opt/kitchen-agent/venv/bin/pip install -q .
fi
install -m 0644 README.md /opt/kitchen-agent/README.md
ln -sf /opt/kitchen-agent/venv/bin/kitchen-agent /usr/local/bin/kitchen-agent

install -D -m 0644 systemd/kitchen-agent.sysusers /usr/lib/sysusers.d/kitchen-agent.conf
install -D -m 0644 systemd/kitchen-agent.tmpfiles /usr/lib/tmpfiles.d/kitchen-agent.conf
install -D -m 0644 systemd/kitchen-agent.service /etc/systemd/system/kitchen-agent.service
systemd-sysusers kitchen-agent.conf 2>/dev/null || systemd-sysusers
systemd-tmpfiles --create kitchen-agent.conf 2>/dev/null || systemd-tmpfiles --create
install -d -m 0750 -g kitchen-agent /etc/kitchen-agent
install -m 0640 -g kitchen-agent config/agent.example.yaml /etc/kitchen-agent/agent.example.yaml
systemctl daemon-reload 2>/dev/null || true
cat <<MSG
kitchen-agent installed. Next:
  kitchen-agent config init ... --output /etc/kitchen-agent/agent.yaml
  echo -n 'PASSWORD' > /etc/kitchen-agent/credentials/camera-password   (and mqtt-password, stream-token)
  chgrp kitchen-agent /etc/kitchen-agent/agent.yaml
  systemctl enable --now kitchen-agent
MSG
