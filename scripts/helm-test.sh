#!/usr/bin/env bash
# Renders the Helm chart (helm/renkei) with Helm's own engine and validates every manifest against
# the Kubernetes schemas: tests/helm, in a Python virtualenv fed from PyPI only (no cluster, no
# helm binary). The venv lives outside the clone and is reused: ${RENKEI_VENV:-~/.cache/renkei/venv}.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/lib.sh
python_venv tests/helm/requirements.txt

exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/helm "$@"
