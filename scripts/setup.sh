#!/usr/bin/env bash
# Installs what building and testing Keel needs on a fresh Debian machine with rustup: the wasm32-wasip2
# target for the Rust guests, and the guest toolchains of the other languages.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# Python guests (sdk/python/build.sh): componentize-py bundles CPython, so pip is all it needs.
if ! command -v componentize-py >/dev/null; then
  python3 -m pip install --quiet componentize-py==0.25.1
  # pyenv only exposes a newly installed script once its shims are rebuilt.
  if command -v pyenv >/dev/null; then pyenv rehash; fi
fi
# JavaScript guests (sdk/javascript/build.sh): componentize-js 0.23.0, pinned by the committed package-lock.json.
[ -d sdk/javascript/node_modules ] || npm ci --prefix sdk/javascript --no-audit --no-fund
# Headless Chromium for the dashboard's browser test (tests/all/dashboard.rs skips without it).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
