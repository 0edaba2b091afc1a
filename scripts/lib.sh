# Shared by scripts/run.sh and scripts/test-all.sh (sourced, from the repository root).
#
#   qm_python               picks the Python environment: the active virtual environment
#                           ($VIRTUAL_ENV), else .venv at the repository root (created if
#                           missing); sets PY to its python and puts its bin/ first on PATH.
#   qm_pip_install EXTRAS   pip install -e ".[EXTRAS]" into it, with requirements/lock.txt
#                           as constraints; skipped when pyproject.toml and the lock are
#                           unchanged since the last install.
#   qm_npm_ci               npm ci in quantmind-ide/, skipped when package-lock.json and node
#                           are unchanged since the last one.
#   qm_ide_build            npm run build (into qm_jupyter/static/ide/), skipped when the IDE's
#                           sources and packages are unchanged since the last build.
#   qm_chromium             Debian's chromium at /usr/bin/chromium, installed only if missing,
#                           without recommends and without upgrading any installed package.

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
QM_LOCK=requirements/lock.txt
QM_IDE_OUT=qm_jupyter/static/ide
QM_STAMPS=quantmind-ide/node_modules/.qm-stamps   # npm ci empties node_modules: stamps go too

qm_sha256() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# qm_if_changed STAMP KEY COMMAND...: run COMMAND unless STAMP holds KEY; record KEY on success.
qm_if_changed() {
  local stamp=$1 key=$2
  shift 2
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    echo "   unchanged since the last run, skipped ($stamp)"
    return 0
  fi
  rm -f "$stamp"
  "$@"
  mkdir -p "$(dirname "$stamp")"
  printf '%s\n' "$key" >"$stamp"
}

qm_python() {
  local venv
  if [ -n "${VIRTUAL_ENV:-}" ]; then
    venv=$VIRTUAL_ENV
    echo "   into the active virtual environment $venv"
  else
    venv=$(pwd)/.venv
    if [ ! -x "$venv/bin/python" ]; then
      local base=${QM_BASE_PYTHON:-python3}
      "$base" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || {
        echo "qm-jupyter needs Python >= 3.11 (set QM_BASE_PYTHON to one)" >&2
        return 1
      }
      if ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
        # Debian's python3 has no ensurepip without python3-venv.
        qm_apt_install python3-venv
      fi
      rm -rf "$venv"
      "$base" -m venv "$venv"
    fi
    echo "   into $venv (set VIRTUAL_ENV, i.e. activate another one, to use that instead)"
  fi
  export VIRTUAL_ENV=$venv
  export PATH="$venv/bin:$PATH"
  PY=$venv/bin/python
}

qm_pip_install() {
  local extras=$1
  qm_if_changed "$VIRTUAL_ENV/.qm-jupyter-install-$extras.stamp" \
    "$(qm_sha256 pyproject.toml "$QM_LOCK")-$(pwd)" \
    "$PY" -m pip install -q -c "$QM_LOCK" -e ".[$extras]"
}

qm_npm_ci() {
  qm_if_changed "$QM_STAMPS/npm-ci" "$(qm_sha256 quantmind-ide/package-lock.json)-$(node --version)" \
    bash -c 'cd quantmind-ide && npm ci --no-audit --no-fund'
}

qm_ide_sources_hash() {
  (
    cd quantmind-ide
    find . \( -name node_modules -o -name .svelte-kit -o -name test-results \
      -o -name playwright-report \) -prune -o -type f -print0 | LC_ALL=C sort -z |
      xargs -0 sha256sum | sha256sum | cut -d' ' -f1
  )
}

qm_ide_build() {
  [ -f "$QM_IDE_OUT/index.html" ] || rm -f "$QM_STAMPS/build"
  qm_if_changed "$QM_STAMPS/build" "$(qm_ide_sources_hash)-$(node --version)" \
    bash -c 'cd quantmind-ide && npm run build'
}

# qm_apt_install PACKAGE: Debian's package, without recommends, refusing to upgrade anything
# already installed (apt-get would upgrade installed dependencies that the package needs newer).
qm_apt_install() {
  local package=$1 sudo=() upgrades
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  command -v apt-get >/dev/null || {
    echo "$package is missing and this is not a Debian-like system: install it yourself" >&2
    return 1
  }
  "${sudo[@]}" apt-get update -q
  # A simulated install lists an upgrade as "Inst name [installed version] (new version ...)".
  upgrades=$(apt-get install -s -q --no-install-recommends --no-upgrade "$package" |
    awk '/^Inst [^ ]+ \[/ {print $2}')
  if [ -n "$upgrades" ]; then
    echo "installing $package would upgrade installed packages: $upgrades" >&2
    echo "install $package yourself (apt-get install $package), then run this again" >&2
    return 1
  fi
  "${sudo[@]}" apt-get install -y -q --no-install-recommends --no-upgrade "$package"
}

qm_chromium() {
  if [ -x /usr/bin/chromium ]; then
    echo "   /usr/bin/chromium is there: nothing to install"
  else
    qm_apt_install chromium
  fi
}
