#!/usr/bin/env bash
# Type-checks the ampacity package with mypy.
# The repository keeps one top-level folder per part (assets/, drivers/, ...) that pyproject.toml
# maps into the ampacity namespace; mypy does not read that mapping, so we show it the installed
# layout (a copy of the .py files under build/typecheck/) and print paths as they are in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck/ampacity
rm -rf build/typecheck
mkdir -p "$tree"
cp package/__init__.py "$tree/"
find assets nodesets drivers control storage server sim scenarios -name '*.py' -not -path '*/node_modules/*' \
  | tar -cf - -T - | tar -xf - -C "$tree"
status=0
MYPYPATH=build/typecheck python3 -m mypy "$@" build/typecheck/ampacity > build/typecheck.log 2>&1 || status=$?
sed -e 's#build/typecheck/ampacity/##' build/typecheck.log
exit $status
