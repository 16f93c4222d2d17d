#!/usr/bin/env bash
# Runs every test against the local PostgreSQL and Redis prepared by scripts/services.sh.
# Each test gets its own database, cloned from a migrated template; leftovers of earlier runs
# are dropped first.
set -euo pipefail
cd "$(dirname "$0")/.."
source .dev/env
for db in $(psql "$TEST_OWNER_DATABASE_URL" -tAc "SELECT datname FROM pg_database WHERE datname LIKE 'renkei\_t\_%' OR datname LIKE 'renkei\_tpl\_%'"); do
  psql -q "$TEST_OWNER_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null
done
# The SMTP tests run a real SMTP server (aiosmtpd, tests/smtp/relay.py) from the project's Python
# venv, with certificates made by the openssl command.
source scripts/lib.sh
command -v openssl >/dev/null || apt_install openssl
python_venv tests/smtp/requirements.txt
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast || status=$?
else
  cargo test --workspace --no-fail-fast || status=$?
fi
# The Helm chart renders and validates against the Kubernetes schemas.
bash scripts/helm-test.sh || status=$?
# A bounded fuzzing run of /graphql against a live server must find no server error
# (FUZZ_SECONDS, default 50; tests/fuzz/README.md has the long run).
bash scripts/fuzz.sh || status=$?
exit $status
