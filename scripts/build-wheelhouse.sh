#!/usr/bin/env bash
# Build every wheel the box needs into ./wheelhouse, for an offline scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip wheel -q -w wheelhouse .
echo "wheelhouse ready: $(ls wheelhouse | wc -l) wheels"
