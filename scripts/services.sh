#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1 and that Renkei's database roles exist.
# Uses servers that already answer on the usual ports; otherwise installs them from the
# distribution's packages and starts them. Writes the connection settings to .dev/env.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .dev

PGHOST_ADDR=${RENKEI_PG_HOST:-127.0.0.1}
PGPORT_NUM=${RENKEI_PG_PORT:-5432}
REDIS_PORT=${RENKEI_REDIS_PORT:-6379}
PASSWORD=${RENKEI_DB_PASSWORD:-renkei}

source scripts/lib.sh

pg_answers() { command -v pg_isready >/dev/null && pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM"; }

# --- PostgreSQL -------------------------------------------------------------------------------
if ! pg_answers; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    log "creating PostgreSQL $version cluster"
    pg_createcluster "$version" main -p "$PGPORT_NUM" >/dev/null
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  pg_answers || { echo "PostgreSQL did not start on $PGHOST_ADDR:$PGPORT_NUM" >&2; exit 1; }
fi
command -v psql >/dev/null || apt_install postgresql-client

# A superuser session: over TCP where trust allows it, else as the postgres OS user (peer).
pg_super() {
  export PGOPTIONS='-c client_min_messages=warning'
  if psql -w -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
    psql -w -q -v ON_ERROR_STOP=1 -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U postgres -d postgres "$@"
  else
    runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$PGPORT_NUM" -d postgres "$@"
  fi
}

# renkei_owner owns the schema and runs migrations (it may create the renkei_app role and the
# test databases); renkei_api is the login the service uses, a member of renkei_app, subject to
# every row-level-security policy.
pg_super <<SQL >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'renkei_owner') THEN
    CREATE ROLE renkei_owner LOGIN CREATEDB CREATEROLE PASSWORD '$PASSWORD';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'renkei_app') THEN
    CREATE ROLE renkei_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'renkei_api') THEN
    CREATE ROLE renkei_api LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '$PASSWORD';
  END IF;
END
\$\$;
GRANT renkei_app TO renkei_api;
GRANT renkei_app TO renkei_owner WITH ADMIN OPTION;
-- On this development cluster only: a test's database is dropped when the test ends, WITH
-- (FORCE), which must end the test's own connections as renkei_api.
GRANT pg_signal_backend TO renkei_owner;
SQL
if ! pg_super -tAc "SELECT 1 FROM pg_database WHERE datname = 'renkei'" | grep -q 1; then
  pg_super -c "CREATE DATABASE renkei OWNER renkei_owner" >/dev/null
fi

# --- Redis -------------------------------------------------------------------------------------
redis_answers() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }
if ! redis_answers; then
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$PWD/.dev" --logfile "$PWD/.dev/redis.log"
  for _ in $(seq 1 20); do redis_answers && break; sleep 0.5; done
  redis_answers || { echo "Redis did not start on 127.0.0.1:$REDIS_PORT" >&2; exit 1; }
fi

# --- Development signing keys ----------------------------------------------------------------
if [ ! -f .dev/jwt-private.pem ]; then
  command -v openssl >/dev/null || apt_install openssl
  openssl genpkey -algorithm ed25519 -out .dev/jwt-private.pem 2>/dev/null
  openssl pkey -in .dev/jwt-private.pem -pubout -out .dev/jwt-public.pem 2>/dev/null
fi

cat > .dev/env <<ENV
export DATABASE_URL=postgres://renkei_api:$PASSWORD@$PGHOST_ADDR:$PGPORT_NUM/renkei
export MIGRATION_DATABASE_URL=postgres://renkei_owner:$PASSWORD@$PGHOST_ADDR:$PGPORT_NUM/renkei
export TEST_OWNER_DATABASE_URL=postgres://renkei_owner:$PASSWORD@$PGHOST_ADDR:$PGPORT_NUM/postgres
export TEST_APP_DATABASE_URL=postgres://renkei_api:$PASSWORD@$PGHOST_ADDR:$PGPORT_NUM/postgres
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
export JWT_PUBLIC_KEY_FILE=$PWD/.dev/jwt-public.pem
export JWT_PRIVATE_KEY_FILE=$PWD/.dev/jwt-private.pem
ENV
log "PostgreSQL and Redis ready; settings in .dev/env"
