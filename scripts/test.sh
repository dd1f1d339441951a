#!/usr/bin/env bash
# The test command: set up the machine (idempotent), then lint, type-check and run every
# test against the real parts. Extra arguments go to pytest (e.g. -k discovery).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff" >&2
.venv/bin/ruff check agent tests testkit benchmarks scripts
.venv/bin/ruff format --check agent tests testkit benchmarks scripts
echo "== mypy (strict on agent/, checked on tests, testkit, benchmarks)" >&2
.venv/bin/mypy
echo "== pytest" >&2
# Two workers, a test file's tests on one worker (they share its fixtures): the real
# parts mostly wait on sockets and timers, so two workers halve the wall time on two cores.
# Files go out in the order collected (tests/conftest.py puts the minutes-long soak first),
# not by their number of tests, which would send the one-test soak last.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
