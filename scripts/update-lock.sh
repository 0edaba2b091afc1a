#!/usr/bin/env bash
# Rewrites requirements/lock.txt: resolves ".[test]" afresh in a throw-away virtual environment
# (newest versions allowed by pyproject.toml) and records them. Run the tests before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
venv=$(mktemp -d -t qm-lock.XXXXXX)
trap 'rm -rf "$venv"' EXIT
"${QM_BASE_PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q -e ".[test]"
{
  sed -n '/^#/p' requirements/lock.txt
  "$venv/bin/python" -m pip freeze --exclude-editable --exclude qm-jupyter
} >requirements/lock.txt.new
mv requirements/lock.txt.new requirements/lock.txt
echo "requirements/lock.txt: $(grep -c '==' requirements/lock.txt) packages"
