#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs every test:
# lint, the import rules, the IDE's unit tests and build, Python tests with coverage (>= 85% of qm_jupyter,
# worker processes included), the notebooks under nbval, and the browser tests.
# What goes where: the Python packages into the active virtual environment ($VIRTUAL_ENV) or
# .venv/ here; the IDE's npm packages into quantmind-ide/node_modules/; Debian's chromium (only
# if /usr/bin/chromium is missing) through apt. Every Jupyter and IPython directory the tests
# use (runtime files, data, config, kernels' IPython profile) is a temporary one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1   # the browser is Debian's chromium, never a download

echo "== install Python packages: qm-jupyter with its test extra (requirements/lock.txt versions)"
qm_python
qm_pip_install test

echo "== Debian's chromium (browser tests) and curl (the README's examples), if missing"
qm_chromium
command -v curl >/dev/null || qm_apt_install curl

jupyter_tmp=$(mktemp -d -t qm-test-jupyter.XXXXXX)
trap 'rm -rf "$jupyter_tmp"' EXIT
export JUPYTER_RUNTIME_DIR=$jupyter_tmp/runtime JUPYTER_DATA_DIR=$jupyter_tmp/data \
  JUPYTER_CONFIG_DIR=$jupyter_tmp/config IPYTHONDIR=$jupyter_tmp/ipython \
  JUPYTERLAB_SETTINGS_DIR=$jupyter_tmp/lab-settings \
  JUPYTERLAB_WORKSPACES_DIR=$jupyter_tmp/lab-workspaces
unset JUPYTER_PATH JUPYTER_CONFIG_PATH

echo "== lint"
"$PY" -m ruff check qm_jupyter tests benchmarks notebooks scripts
"$PY" -m ruff format --check qm_jupyter tests benchmarks notebooks scripts

echo "== architecture: import rules (.importlinter: layers, no jupyter_server/ipywidgets below"
echo "   the server and notebook sides, no import cycles)"
lint-imports

echo "== IDE: install, type-check, unit tests, build (served at /quantmind/ by the tests below)"
qm_npm_ci
(
  cd quantmind-ide
  npm run check
  npm test
  npm run build
)

echo "== Python tests (server, engine, notebook API and widget, faults, fuzzing, contract;"
echo "   the notebooks under nbval in kernels of a real Jupyter server; the widget in chromium;"
echo "   the README's examples)"
rm -f .coverage .coverage.*
"$PY" -m pytest tests --cov=qm_jupyter --cov-report=

echo "== notebooks under nbval, no server (the kernel alone)"
"$PY" -m pytest --nbval notebooks/

echo "== IDE: browser tests (Playwright, Debian's chromium, a real jupyter server)"
(cd quantmind-ide && npm run test:e2e)

echo "== coverage of qm_jupyter"
"$PY" -m coverage report --fail-under=85
