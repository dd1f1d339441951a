#!/usr/bin/env bash
# Prepare this machine for kitchen-agent development, tests and the simulated kitchen:
# Debian packages (the real parts: mosquitto, ffmpeg, nginx-rtmp, GStreamer RTSP server,
# PostgreSQL and chromium for the fleet side) and a virtualenv at .venv with the project,
# its fleet extra and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  mosquitto mosquitto-clients
  ffmpeg
  nginx libnginx-mod-rtmp
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  iproute2 openssl sqlite3 procps util-linux systemd
  shellcheck  # tests lint the install scripts
  python3-venv  # a plain Debian python3 needs it for .venv
  postgresql    # the fleet's shared store; tests start throw-away clusters
  chromium fonts-wqy-microhei  # headless, to look at the fleet's HTML report (in Chinese)
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
# The distribution's nginx/mosquitto services are not used; tests run their own instances.

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test,fleet]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/kitchen-agent --version >/dev/null
