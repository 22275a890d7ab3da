#!/usr/bin/env bash
# The main job: builds Keel and the Rust order-processing example, then runs the seed's order workflow
# end to end on an embedded SQLite store and prints its history.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p keel
cargo build --release --target wasm32-wasip2 -p order-processing
keel="$target/release/keel"
module="$target/wasm32-wasip2/release/order_processing.wasm"
db="${KEEL_DB:-$(mktemp -d)/keel.db}"
id="order-42-$(date +%s)"
"$keel" --db "$db" run "$module" --orchestrator ProcessOrder \
    --input '{"orderId":"order-42","amount":25.0,"items":["book"]}' --id "$id"
echo
"$keel" --db "$db" history "$id"
