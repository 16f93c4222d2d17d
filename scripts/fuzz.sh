#!/usr/bin/env bash
# Fuzzes GraphQL over HTTP (tests/fuzz): a throw-away database (migrated, demo data), the built
# renkei-api on a free loopback port, then schemathesis and tests/fuzz/raw.py against /graphql
# with a token per demo role. Fails when any answer is a server error: HTTP 5xx, a body that is
# not JSON, or an error with extensions.code INTERNAL; each one is printed with its request.
#
#   bash scripts/fuzz.sh                     # default budget: FUZZ_SECONDS=50 (65–80 s in all)
#   FUZZ_SECONDS=1800 bash scripts/fuzz.sh   # a long run: 30 minutes of fuzzing
#
# Needs scripts/services.sh (PostgreSQL, Redis, .dev/env; run if .dev/env is missing) and the
# debug renkei-api (built if missing; `make test` has built it with the integration tests).
# Python packages come from PyPI into ${RENKEI_VENV:-~/.cache/renkei/venv}. Only loopback is
# targeted; the server and the database are removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-50}
source scripts/lib.sh
BIN=${CARGO_TARGET_DIR:-$HOME/.cache/renkei/target}/debug
log() { printf '==> [%3ds] %s\n' "$SECONDS" "$*" >&2; }

case $FUZZ_SECONDS in
  '' | *[!0-9]*) echo "FUZZ_SECONDS must be a whole number of seconds (got '$FUZZ_SECONDS')" >&2; exit 2 ;;
esac
[ -f .dev/env ] || bash scripts/services.sh
source .dev/env
if [ ! -x "$BIN/renkei-api" ]; then
  log "no $BIN/renkei-api yet: building it"
  CARGO_TARGET_DIR=$(dirname "$BIN") cargo build --bin renkei-api
fi

# --- Python: the same venv as scripts/helm-test.sh ----------------------------------------------
python_venv tests/fuzz/requirements.txt

# --- A throw-away database --------------------------------------------------------------------
# Leftovers of runs that were killed go first; a database still in use (another run) stays.
for db in $(psql "$TEST_OWNER_DATABASE_URL" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'renkei\_fuzz\_%'"); do
  psql -q "$TEST_OWNER_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
done

with_database() { # URL DB: the URL with its database name replaced
  local url=$1 base query
  base=${url%%\?*}
  query=${url#"$base"}
  printf '%s/%s%s' "${base%/*}" "$2" "$query"
}

DB=renkei_fuzz_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/renkei-fuzz.XXXXXX")
SERVER_LOG=$WORK/server.log
server_pid=""
cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql -q "$TEST_OWNER_DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  log "server stopped, database $DB dropped"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql -q "$TEST_OWNER_DATABASE_URL" -c "CREATE DATABASE $DB OWNER renkei_owner" >/dev/null
export DATABASE_URL MIGRATION_DATABASE_URL
DATABASE_URL=$(with_database "$DATABASE_URL" "$DB")
MIGRATION_DATABASE_URL=$(with_database "$MIGRATION_DATABASE_URL" "$DB")
export RUST_LOG=warn LOG_FORMAT=text NO_COLOR=1
unset OTEL_EXPORTER_OTLP_ENDPOINT
"$BIN/renkei-api" migrate >/dev/null
"$BIN/renkei-api" seed demo >/dev/null
"$BIN/renkei-api" schema >"$WORK/schema.graphql"

# --- The server on a free loopback port -------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
METRICS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Rate limits off: the fuzzer sends far more than a person would, and 429s would hide the rest.
BIND_ADDRESS=127.0.0.1:$PORT METRICS_BIND_ADDRESS=127.0.0.1:$METRICS_PORT GRAPHIQL_ENABLED=true RATE_LIMIT_PER_IP=0 RATE_LIMIT_AUTH_FAILURES=0 \
  RATE_LIMIT_QUERIES=0 RATE_LIMIT_MUTATIONS=0 "$BIN/renkei-api" serve >"$SERVER_LOG" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.5
done
if ! curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
  echo "the API did not become ready on 127.0.0.1:$PORT; its log:" >&2
  tail -n 50 "$SERVER_LOG" >&2
  exit 1
fi

# Every demo role, the ministry last (it may change the most). fuzz.py mints the tokens.
roles=()
for subject in demo-dashboard demo-vendor demo-hospital-staff demo-health-centre demo-hospital-admin \
  demo-prefecture-13 demo-national; do
  roles+=(--role "$subject")
done
log "fuzzing http://127.0.0.1:$PORT/graphql for $FUZZ_SECONDS s (database $DB, server log $SERVER_LOG)"

ARTIFACTS=${FUZZ_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/renkei-fuzz-failures.XXXXXX")}
status=0
"$VENV/bin/python" tests/fuzz/fuzz.py --url "http://127.0.0.1:$PORT/graphql" --schema "$WORK/schema.graphql" \
  --mint "$(printf '%q token' "$BIN/renkei-api")" --seconds "$FUZZ_SECONDS" \
  --artifacts "$ARTIFACTS" "${roles[@]}" || status=$?

if ! curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
  echo "the API no longer answers /healthz after the run (crashed or hung)" >&2
  status=1
fi
# What the server logged as errors: internal details reach only the log. UNAVAILABLE (the pool
# was busy) and actix's refusals of malformed HTTP (schemathesis probes a NUL byte in a header)
# are left out.
errors=$(sed 's/\x1b\[[0-9;]*m//g' "$SERVER_LOG" | grep -a -E ' ERROR |panicked|stack overflow' \
  | grep -a -v -e 'code=UNAVAILABLE' -e 'request parse error' \
  | sed -E 's/^[0-9]{4}-[0-9-]+T[^ ]+ +//; s/request_id=[^ ]+ //; s/ \([0-9]+\) panicked/ panicked/' \
  | sort | uniq -c | sort -rn | head -n 40 || true)
if [ -n "$errors" ]; then
  echo
  echo "=== errors in the server log (count, message)"
  echo "$errors"
fi
if [ "$status" -ne 0 ]; then
  cp "$SERVER_LOG" "$ARTIFACTS/server.log"
  echo "failing request bodies and the server log: $ARTIFACTS"
  echo "FUZZ FAILED after $SECONDS s"
else
  rmdir "$ARTIFACTS" 2>/dev/null || true
  echo "fuzz passed after $SECONDS s"
fi
exit "$status"
