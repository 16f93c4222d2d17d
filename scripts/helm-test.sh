#!/usr/bin/env bash
# Renders the Helm chart (helm/renkei) with Helm's own engine and validates every manifest against
# the Kubernetes schemas: tests/helm, in a Python virtualenv fed from PyPI only (no cluster, no
# helm binary). The venv lives outside the clone and is reused: ${RENKEI_VENV:-~/.cache/renkei/venv}.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RENKEI_VENV:-$HOME/.cache/renkei/venv}
log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "cannot install $*: no apt-get on this machine; install it yourself" >&2
    exit 1
  fi
  log "installing $* from the distribution's packages"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3

# A venv whose pip works; Debian's python3 needs python3-venv for that (ensurepip).
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  log "creating the Python virtualenv $VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
    apt_install python3-venv
    python3 -m venv --clear "$VENV"
  fi
fi

"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/helm/requirements.txt

# No .pytest_cache or __pycache__ in the clone.
export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/helm "$@"
