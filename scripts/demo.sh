#!/usr/bin/env bash
# The main job against a simulated kitchen: set up this machine (idempotent), bring up fake
# ONVIF cameras with real RTSP video, a real MQTT broker and a real RTMP ingest, provision
# the box like an installer, and run the agent. Ctrl-C stops; --duration S stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m testkit.kitchen_sim "$@"
