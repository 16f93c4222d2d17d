#!/usr/bin/env bash
# Side-by-side benchmark: the Renkei API vs PostGraphile 5 on equivalent reads, and the KPI report
# vs PostgreSQL alone (pgbench). See bench/peers.py; settings are PEERS_* environment variables.
#   bash bench/peers.sh
#   PEERS_READ_RATES=25,50,100 PEERS_KPI_RATES=5,10,20 PEERS_STEP_SECONDS=5 bash bench/peers.sh   # small
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .dev/env ]; then
  echo "bench/peers.sh: .dev/env is missing; run 'make services' (scripts/services.sh) first" >&2
  exit 1
fi
# shellcheck disable=SC1091
source .dev/env
exec python3 bench/peers.py "$@"
