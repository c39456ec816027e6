#!/usr/bin/env bash
# The test suite, as the README says and .ci/run runs: installs what is missing first
# (tools/ensure_installed.sh: one line per step, nothing when all is there), then pytest. Arguments go
# to pytest (default: the whole suite, pytest.ini's testpaths, after the lint checks: flake8, isort
# and yapf as setup.cfg sets them (over mmpose_attn, tools, tests and runtime), and the docstring
# coverage of mmpose_attn/ counted as mmpose's CI counts it, at least 80 %); pytest's exit code is
# this script's.
#
#   bash tools/run_tests.sh                          # the suite
#   bash tools/run_tests.sh tests/test_models/test_esam.py -x    # a part of it
set -euo pipefail

cd "$(dirname "$0")/.."
. tools/ensure_installed.sh
if [ $# -eq 0 ]; then
  "$PY" -m flake8 mmpose_attn tools tests runtime
  "$PY" -m isort --check-only --diff mmpose_attn tools tests runtime
  "$PY" -m yapf --diff --recursive mmpose_attn tools tests runtime
  "$PY" -m interrogate --quiet --ignore-init-method --ignore-module --ignore-nested-functions \
    --ignore-magic --ignore-regex "__repr__" --fail-under 80 mmpose_attn
fi
exec "$PY" -m pytest -q "$@"
