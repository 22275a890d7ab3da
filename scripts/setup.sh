#!/usr/bin/env bash
# Installs what building and testing Keel needs on a fresh Debian machine with rustup: the wasm32-wasip2
# target for the Rust guests, and the guest toolchains of the other languages.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true
