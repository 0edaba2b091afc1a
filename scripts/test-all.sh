#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs every test:
# lint, Python tests with coverage (>= 85%), notebooks under nbval, the IDE's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

echo "== install Python packages"
python3 -m pip install -q -e ".[test]"

echo "== lint"
python3 -m ruff check qm_jupyter tests benchmarks
python3 -m ruff format --check qm_jupyter tests benchmarks

echo "== Python tests (coverage of qm_jupyter)"
rm -f .coverage .coverage.*
python3 -m pytest tests --cov=qm_jupyter --cov-report=term --cov-fail-under=85
