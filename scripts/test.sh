#!/usr/bin/env bash
# Runs every test: unit tests, and the end-to-end suite in tests/all (which builds the guest
# components once) twice, on temporary SQLite databases and on temporary PostgreSQL databases; the
# store's own tests run on both as well.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# A throwaway PostgreSQL cluster for the tests on PostgreSQL, removed at the end (also when a test
# fails). A KEEL_TEST_POSTGRES already set (a server of your own) is used as it is.
if [ -z "${KEEL_TEST_POSTGRES:-}" ]; then
  pg_dir=$(mktemp -d -u "${TMPDIR:-/tmp}/keel-pg.XXXXXX")
  trap './scripts/postgres.sh stop "$pg_dir"' EXIT
  KEEL_TEST_POSTGRES=$(./scripts/postgres.sh start "$pg_dir")
  export KEEL_TEST_POSTGRES
fi
cargo test --release --workspace "$@"
# The end-to-end suite again, every test on PostgreSQL (a fresh database per test). `--workspace`
# as above, so that features unify the same way and nothing is compiled again (with `-p keel` cargo
# rebuilt keel and wasmtime-wasi-http: 7.5 minutes of CI).
KEEL_TEST_STORE=postgres cargo test --release --workspace --test all "$@"
# The Python SDK's own unit tests (the parts that need no component bindings).
python3 -m unittest discover -s sdk/python/tests
