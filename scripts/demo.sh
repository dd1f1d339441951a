#!/usr/bin/env bash
# The main job against a simulated kitchen: set up this machine (idempotent), bring up fake
# ONVIF cameras with real RTSP video, a real MQTT broker and a real RTMP ingest, provision
# the box like an installer (config init, discover, enroll, acceptance: 完成建设), and run
# the agent; one lens steams up and is flagged. It ends with acceptance again, which names
# that lens. Ctrl-C stops; --duration S stops by itself (--steam-after S: when the lens fogs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m testkit.kitchen_sim "$@"
