#!/usr/bin/env bash
# Migrates, loads the demo, starts the worker and the API, prints how to use them, and keeps
# running until interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
source .dev/env
BIN=${CARGO_TARGET_DIR:-$HOME/.cache/renkei/target}/debug
export BIND_ADDRESS=${BIND_ADDRESS:-127.0.0.1:8080}
export METRICS_BIND_ADDRESS=${METRICS_BIND_ADDRESS:-127.0.0.1:9464}
export WORKER_BIND_ADDRESS=${WORKER_BIND_ADDRESS:-127.0.0.1:8081}
# Without SMTP_URL the worker writes alerts as .eml files here.
export MAIL_DIR=${MAIL_DIR:-$PWD/.dev/mail}

"$BIN/renkei-api" migrate
"$BIN/renkei-api" seed demo

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$BIN/renkei-worker" & pids+=($!)
"$BIN/renkei-api" serve & pids+=($!)

for _ in $(seq 1 60); do
  curl -fsS "http://$BIND_ADDRESS/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://$BIND_ADDRESS/readyz" >/dev/null || { echo "the API did not become ready" >&2; exit 1; }

echo
echo "Renkei is running."
echo "  GraphiQL:  http://$BIND_ADDRESS/graphiql"
echo "  GraphQL:   http://$BIND_ADDRESS/graphql"
echo "  Readiness: http://$BIND_ADDRESS/readyz"
echo "  Metrics:   http://$METRICS_BIND_ADDRESS/metrics"
echo "  Alerts:    ${SMTP_URL:-$MAIL_DIR (.eml files)}"
echo
echo "Tokens (8 hours; send as 'Authorization: Bearer <token>'):"
for subject in demo-national demo-prefecture-13 demo-health-centre demo-hospital-admin demo-hospital-staff demo-vendor demo-dashboard; do
  printf '  %-20s %s\n' "$subject" "$("$BIN/renkei-api" token --user "$subject")"
done
echo
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}"
