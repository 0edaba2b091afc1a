#!/usr/bin/env bash
# The main job on a fresh machine: install qm-jupyter into a virtual environment, build the
# QuantMind IDE, then start JupyterLab with the extension on notebooks/ (sample data included).
#   QM_PORT (default 8888) and QM_TOKEN (default: a random one) may be set.
# What goes where: the Python packages into the active virtual environment ($VIRTUAL_ENV) or
# .venv/ here; the IDE's npm packages into quantmind-ide/node_modules/; the IDE build into
# qm_jupyter/static/ide/. Steps whose inputs did not change since the last start are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

echo "== Python packages: qm-jupyter with JupyterLab and pyarrow (requirements/lock.txt versions)"
qm_python
qm_pip_install lab,parquet
echo "== IDE: npm packages, build"
qm_npm_ci
qm_ide_build

port="${QM_PORT:-8888}"
token="${QM_TOKEN:-$("$PY" -c 'import secrets; print(secrets.token_hex(16))')}"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--allow-root)

cat <<INFO

  JupyterLab:     http://127.0.0.1:${port}/lab?token=${token}
  QuantMind IDE:  http://127.0.0.1:${port}/quantmind/?token=${token}
  Start with notebooks/quickstart.ipynb.

INFO
exec "$PY" -m jupyterlab --no-browser "${as_root[@]}" --port="${port}" \
  --IdentityProvider.token="${token}" --ServerApp.root_dir="$(pwd)/notebooks"
