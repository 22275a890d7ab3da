#!/usr/bin/env bash
# Runs every test: unit tests, and the end-to-end suite in tests/all (which builds the guest
# components once and runs them against temporary SQLite databases).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo test --release --workspace "$@"
# The Python SDK's own unit tests (the parts that need no component bindings).
python3 -m unittest discover -s sdk/python/tests
