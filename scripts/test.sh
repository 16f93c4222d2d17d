#!/usr/bin/env bash
# Runs every test against the local PostgreSQL and Redis prepared by scripts/services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source .dev/env
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
