#!/usr/bin/env bash
# The main job: builds Keel and the Rust order-processing example, starts the example's payment and mail
# service (scripts/shop_service.py, a real HTTP server on 127.0.0.1), lets the activities call it (grants,
# configuration, a secret), runs the seed's order workflow end to end on an embedded SQLite store, prints
# its history and what the service received, and stops the service.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
target="${CARGO_TARGET_DIR:-target}"
# KEEL_BIN: a `keel` already built from this checkout (CI passes the one its test build made).
keel="${KEEL_BIN:-}"
if [ -z "$keel" ]; then
    cargo build --release -p keel
    keel="$target/release/keel"
fi
cargo build --release --target wasm32-wasip2 -p order-processing
module="$target/wasm32-wasip2/release/order_processing.wasm"
work="$(mktemp -d)"
db="${KEEL_DB:-$work/keel.db}"
id="order-42-$(date +%s)"

# The payment and mail service, on a free port; it prints its address first, then one line per request.
python3 scripts/shop_service.py --port 0 --token demo-payment-token >"$work/shop.log" &
shop=$!
trap 'kill "$shop" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    [ -s "$work/shop.log" ] && break
    sleep 0.05
done
url="$(head -n 1 "$work/shop.log" | sed 's/^listening on //')"
echo "payment and mail service listening on $url"

# Deploy, then say what the activities may reach and how: nothing is allowed until it is granted.
"$keel" --db "$db" deploy "$module"
"$keel" --db "$db" grant VerifyPayment "$url"
"$keel" --db "$db" grant SendConfirmationEmail "$url"
"$keel" --db "$db" config set VerifyPayment "PAYMENT_URL=$url/payments"
"$keel" --db "$db" config set SendConfirmationEmail "MAIL_URL=$url/mail"
printf 'demo-payment-token' >"$work/payment-token"
"$keel" --db "$db" secret set VerifyPayment PAYMENT_TOKEN --from-file "$work/payment-token"
echo

"$keel" --db "$db" run "$module" --orchestrator ProcessOrder \
    --input '{"orderId":"order-42","amount":25.0,"items":["book"]}' --id "$id"
echo
"$keel" --db "$db" history "$id"
echo
echo "the payment and mail service received:"
tail -n +2 "$work/shop.log"
