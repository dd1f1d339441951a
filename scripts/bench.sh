#!/usr/bin/env bash
# Every benchmark in one command (each prints ratios against a baseline measured in the
# same run): scripts/bench.sh [discovery|quality_accuracy|quality_speed|mqtt|streams|load|fleet ...]
# The soak (30 minutes) runs only by name: scripts/bench.sh soak
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The quality accuracy benchmark degrades real photographs; Debian's opencv-doc ships them.
if ! dpkg-query -W -f='${Status}' opencv-doc 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq opencv-doc >/dev/null
fi
names=("$@")
if ((${#names[@]} == 0)); then
  names=(discovery quality_accuracy quality_speed mqtt streams footprint load fleet)
fi
for name in "${names[@]}"; do
  echo "===== benchmarks/$name.py"
  .venv/bin/python "benchmarks/$name.py"
  echo
done
