#!/usr/bin/env bash
# The main job on a fresh machine: install qm-jupyter, build the QuantMind IDE, then start
# JupyterLab with the extension on notebooks/ (built-in sample data needs nothing else).
#   QM_PORT (default 8888) and QM_TOKEN (default: a random one) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

python3 -m pip install -q -e ".[lab,parquet]"
(cd quantmind-ide && npm ci --no-audit --no-fund && npm run build)

port="${QM_PORT:-8888}"
token="${QM_TOKEN:-$(python3 -c 'import secrets; print(secrets.token_hex(16))')}"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--allow-root)

cat <<INFO

  JupyterLab:     http://127.0.0.1:${port}/lab?token=${token}
  QuantMind IDE:  http://127.0.0.1:${port}/quantmind/?token=${token}
  Start with notebooks/quickstart.ipynb.

INFO
exec python3 -m jupyterlab --no-browser "${as_root[@]}" --port="${port}" \
  --IdentityProvider.token="${token}" --ServerApp.root_dir="$(pwd)/notebooks"
