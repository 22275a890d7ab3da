#!/usr/bin/env bash
# Benchmarks Keel through its HTTP API, as a client sees it: builds Keel and the fan-out example, starts
# `keel serve` on a fresh database in a temporary directory (TMPDIR=/dev/shm puts it on tmpfs), deploys
# the module over the API and runs scripts/bench_http.py against it. Arguments go to bench_http.py,
# e.g. `scripts/bench.sh --quick` or `scripts/bench.sh --repeat 5`. The server and the temporary
# directory are removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p keel
cargo build --release --target wasm32-wasip2 -p fan-out
keel="$target/release/keel"
module="$target/wasm32-wasip2/release/fan_out.wasm"

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

KEEL_API_TOKEN="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export KEEL_API_TOKEN
"$keel" --db "$work/bench.db" serve --listen 127.0.0.1:0 2>"$work/serve.log" &
server=$!

# The banner's last line names the address: "keel serve: listening on 127.0.0.1:PORT; Ctrl-C to stop".
addr=""
for _ in $(seq 200); do
    addr="$(sed -n 's/^keel serve: listening on \([^;]*\);.*/\1/p' "$work/serve.log")"
    [ -n "$addr" ] && break
    if ! kill -0 "$server" 2>/dev/null; then
        echo "bench.sh: keel serve exited before listening:" >&2
        cat "$work/serve.log" >&2
        exit 1
    fi
    sleep 0.05
done
if [ -z "$addr" ]; then
    echo "bench.sh: keel serve did not report its address within 10 s" >&2
    exit 1
fi
echo "keel serve on http://$addr, database $work/bench.db" >&2

status=0
python3 scripts/bench_http.py --server "http://$addr" --deploy "$module" "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "bench.sh: the last lines keel serve logged:" >&2
    tail -n 20 "$work/serve.log" >&2
fi
exit "$status"
