# Shared by the scripts: logging, installing from the distribution's packages, and the Python
# virtualenv (outside the clone) that the chart and fuzzing tests use.

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

# python_venv REQUIREMENTS: makes ${RENKEI_VENV:-~/.cache/renkei/venv} with a working pip and
# installs REQUIREMENTS into it; sets VENV.
python_venv() {
  VENV=${RENKEI_VENV:-$HOME/.cache/renkei/venv}
  command -v python3 >/dev/null || apt_install python3
  # Debian's python3 needs python3-venv for a venv with pip (ensurepip).
  if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    log "creating the Python virtualenv $VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
      apt_install python3-venv
      python3 -m venv --clear "$VENV"
    fi
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$1"
  # No .pytest_cache or __pycache__ in the clone.
  export PYTHONDONTWRITEBYTECODE=1
}
