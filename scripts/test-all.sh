#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs every test:
# lint, the IDE's unit tests and build, Python tests with coverage (>= 85% of qm_jupyter,
# worker processes included), the notebooks under nbval, and the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1   # the browser is Debian's chromium, never a download

echo "== install Python packages"
python3 -m pip install -q -e ".[test]"

echo "== install Debian's chromium (browser tests)"
if [ ! -x /usr/lib/chromium/chromium ]; then
  apt-get update -q && apt-get install -y -q chromium
fi

echo "== lint"
python3 -m ruff check qm_jupyter tests benchmarks notebooks
python3 -m ruff format --check qm_jupyter tests benchmarks notebooks

echo "== IDE: install, type-check, unit tests, build (served at /quantmind/ by the tests below)"
(
  cd quantmind-ide
  npm ci --no-audit --no-fund
  npm run check
  npm test
  npm run build
)

echo "== Python tests (server, engine, notebook API and widget, faults, fuzzing, contract;"
echo "   the notebooks under nbval in kernels of a real Jupyter server; the widget in chromium)"
rm -f .coverage .coverage.*
python3 -m pytest tests --cov=qm_jupyter --cov-report=

echo "== notebooks under nbval, no server (the kernel alone)"
python3 -m pytest --nbval notebooks/

echo "== IDE: browser tests (Playwright, Debian's chromium, a real jupyter server)"
(cd quantmind-ide && npm run test:e2e)

echo "== coverage of qm_jupyter"
python3 -m coverage report --fail-under=85
