#!/usr/bin/env bash
# Every benchmark in one command (each prints ratios against a baseline measured in the
# same run): scripts/bench.sh [discovery|quality_accuracy|quality_speed|mqtt|streams ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
names=("$@")
if ((${#names[@]} == 0)); then
  names=(discovery quality_accuracy quality_speed mqtt streams)
fi
for name in "${names[@]}"; do
  echo "===== benchmarks/$name.py"
  .venv/bin/python "benchmarks/$name.py"
  echo
done
