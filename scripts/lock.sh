#!/usr/bin/env bash
# Pin every runtime dependency of kitchen-agent, with the sha256 of every file PyPI has for
# each pinned version, into packaging/requirements.lock (and the pip that install.sh runs
# from the bundle into packaging/installer.lock). scripts/build-wheelhouse.sh downloads
# exactly these (pip refuses any file whose hash is not listed), so two wheelhouses of one
# version hold the same packages, for x86_64 and aarch64 alike.
#   scripts/lock.sh             keep the pins, add what pyproject.toml newly asks for
#   scripts/lock.sh --upgrade   move every pin to the newest release pyproject.toml allows
# Needs PyPI. Resolves for CPython 3.11 (Debian 12's python3), the boxes' interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
upgrade=()
case "${1:-}" in
  "") ;;
  --upgrade) upgrade=(--upgrade) ;;
  *) echo "usage: scripts/lock.sh [--upgrade]" >&2; exit 2 ;;
esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "lock.sh: needs CPython 3.11 (the boxes' Debian 12 python3); set PYTHON=" >&2; exit 2; }

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PYTHON" -m venv "$tools"
"$tools/bin/pip" install -q 'pip-tools==7.6.2'
# pip-compile's header records how to regenerate the file; make it name this script.
compile=(env CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$tools/bin/pip-compile" -q "${upgrade[@]}"
  --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links)
"${compile[@]}" --output-file packaging/requirements.lock pyproject.toml
"${compile[@]}" --output-file packaging/installer.lock packaging/installer.in
echo "packaging/requirements.lock: $(grep -c '^[A-Za-z0-9]' packaging/requirements.lock) pins"
