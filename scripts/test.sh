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
# The whole suite (no arguments, as CI runs it) also runs the demo's end-to-end tests
# (tests/server/conftest.py DEMO_E2E) with the simulated day started at night, at noon and in
# the evening (the demo's clock reads AMPACITY_DEMO_START): a test that holds only at some hours
# fails here whenever CI runs. Each start is a test module of its own in the same run
# (tests/server/test_demo_e2e.py@03:00::...), so the workers share them with the other files;
# the files' own modules run on the wall clock as before.
if [ "$#" -eq 0 ]; then
  set -- --demo-starts=03:00,12:00,20:00
fi
python3 -m pytest -n 2 --dist loadfile "$@"
