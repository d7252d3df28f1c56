#!/usr/bin/env bash
# Installs Ampacity with its test tools, then runs lint, format check, type check and the tests
# (the demo's end-to-end tests also with its simulated day starting at three times of day).
# This is the README's test command and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Strict editable mode: a tree of links under build/ that editors and static tools can follow
# (README, Contributing); it is made here, so new modules and data files are always in it.
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]' \
  --config-settings editable_mode=strict

# The historian's PostgreSQL tests need the local server (127.0.0.1:5432, database "test").
# Start the installed cluster if it is not running; without PostgreSQL those tests skip and say so.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  fi
fi

# node-opcua (the independent OPC UA stack that loads our NodeSet2) from the npm registry.
if command -v npm >/dev/null 2>&1; then
  (cd tests/nodeopcua && npm ci --no-audit --no-fund --loglevel=error)
fi

python3 -m ruff check .
python3 -m ruff format --check .
bash scripts/typecheck.sh
# Two workers (this machine kind has 2 cores); a test file stays on one worker, so its
# module-scoped fixtures (a running demo site) are built once.
python3 -m pytest -n 2 --dist loadfile "$@"

# The whole suite (no arguments, as CI runs it) then runs the demo's end-to-end tests again with
# the simulated day started at night, at noon and in the evening (the demo's clock reads
# AMPACITY_DEMO_START): a test that holds only at some hours fails here whenever CI runs.
if [ "$#" -eq 0 ]; then
  demo_e2e=(tests/server/test_demo_e2e.py tests/server/test_control_e2e.py
    tests/server/test_marketer_e2e.py)
  failed=()
  for start in 03:00 12:00 20:00; do
    echo "demo end-to-end tests, the demo's day starting at $start:"
    AMPACITY_DEMO_START=$start python3 -m pytest -q -p no:cacheprovider -n 2 --dist loadfile \
      "${demo_e2e[@]}" \
      || failed+=("$start")
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "demo end-to-end tests failed with the day starting at: ${failed[*]}" >&2
    exit 1
  fi
fi
