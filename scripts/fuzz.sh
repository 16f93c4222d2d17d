#!/usr/bin/env bash
# Fuzzes GraphQL over HTTP (tests/fuzz): a throw-away database (migrated, demo data), the built
# renkei-api on a free loopback port, then schemathesis and tests/fuzz/raw.py against /graphql
# with a token per demo role. Fails when
#   * any answer is a server error: HTTP 5xx, a body that is not JSON, an error with
#     extensions.code INTERNAL or UNAVAILABLE (this run injects no outage), or no answer; each is
#     printed with its request;
#   * the server's log has any ERROR line, a panic (also one caught and logged, as
#     graphql.validation_panicked) or a stack overflow, or the server stopped answering /healthz;
#   * the fuzzer itself raised (a Python traceback, a schemathesis hook crashing);
#   * a demo role got fewer answered requests than fuzz.py's stated minimum, from schemathesis or
#     from raw.py (75 and 100 for 50 s, in proportion to FUZZ_SECONDS); the counts are printed.
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
# Stopped before its log is read, so that the log is complete (shutting down is in it too).
if kill -TERM "$server_pid" 2>/dev/null; then
  for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
fi

# Any error the server logged fails the run: internal causes reach only the log. That includes
# code=UNAVAILABLE (graphql.resolver_failed, auth.lookup_failed): it would be expected only while
# an outage is injected, and this run injects none (the database and Redis stay up, the pool is
# not squeezed), so it fails here like any other ERROR.
# One exclusion: actix-http refusing a request it cannot parse logs that at ERROR ("stream error:
# request parse error: ...") and answers 400/414/431 without a body before the application sees
# the request: the fuzzers send such requests on purpose (a 70 KB URL, a NUL byte in a header).
# Only the variants a malformed request causes are left out (method, URI, version, header, head
# too large); any other dispatcher error (I/O, service, timeout, ...) still fails the run.
if [ ! -r "$SERVER_LOG" ]; then
  echo "the server log $SERVER_LOG is missing" >&2
  status=1
fi
malformed='actix_http::h1::dispatcher: stream error: request parse error: (invalid method specified|URI error: |invalid HTTP version specified|invalid Header provided|message head is too large)'
all_lines=$(sed 's/\x1b\[[0-9;]*m//g' "$SERVER_LOG" \
  | grep -a -E '(^|[[:space:]])ERROR[[:space:]]|panicked|stack overflow|overflowed its stack|fatal runtime error' || true)
error_lines=$(printf '%s\n' "$all_lines" | grep -a -v -E -e "$malformed" -e '^$' || true)
left_out=$(printf '%s\n' "$all_lines" | grep -a -E -e "$malformed" | sed -E 's/^.*request parse error: //' \
  | sort | uniq -c | sort -rn || true)
if [ -n "$left_out" ]; then
  echo "left out, not failures: actix-http refusing malformed requests (count, its reason):"
  printf '%s\n' "$left_out"
fi
if [ -n "$error_lines" ]; then
  echo
  echo "=== errors in the server log: each fails the run (count, message; the whole log is saved, see below)"
  printf '%s\n' "$error_lines" \
    | sed -E 's/^[0-9]{4}-[0-9-]+T[^ ]+ +//; s/request_id=[^ ]+ //; s/ \([0-9]+\) panicked/ panicked/' \
    | sort | uniq -c | sort -rn | head -n 40
  echo "FAILED: the server logged $(printf '%s\n' "$error_lines" | wc -l) error lines during the run"
  status=1
fi
if [ "$status" -ne 0 ]; then
  mkdir -p "$ARTIFACTS"
  cp "$SERVER_LOG" "$ARTIFACTS/server.log"
  echo "failing request bodies and the server log: $ARTIFACTS"
  echo "FUZZ FAILED after $SECONDS s"
else
  rmdir "$ARTIFACTS" 2>/dev/null || true
  echo "fuzz passed after $SECONDS s"
fi
exit "$status"
