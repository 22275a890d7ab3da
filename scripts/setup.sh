#!/usr/bin/env bash
# Installs what building and testing Keel needs on a fresh Debian machine with rustup: the wasm32-wasip2
# target for the Rust guests, and the guest toolchains of the other languages (Python, JavaScript, C).
# Each step is skipped when its tool is already there, so running it again costs a few milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt-get, with the package lists refreshed once per run and only when something is missing.
apt_updated=no
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "setup.sh: install $* with your package manager (no apt-get here)" >&2
    return 1
  fi
  if [ "$apt_updated" = no ]; then
    apt-get update -qq >/dev/null
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

rustup target add wasm32-wasip2 >/dev/null
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Python guests (sdk/python/build.sh): componentize-py bundles CPython, so pip is all it needs.
if ! command -v componentize-py >/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  # Debian's own Python refuses system-wide installs (PEP 668) unless told otherwise.
  python3 -m pip install --quiet componentize-py==0.25.1 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages componentize-py==0.25.1
  # pyenv only exposes a newly installed script once its shims are rebuilt.
  if command -v pyenv >/dev/null; then pyenv rehash; fi
fi

# JavaScript guests (sdk/javascript/build.sh): componentize-js 0.23.0, pinned by the committed package-lock.json.
command -v npm >/dev/null || apt_install nodejs npm
[ -d sdk/javascript/node_modules ] || npm ci --prefix sdk/javascript --no-audit --no-fund

# C guests (keel build --lang c): clang and wasm-ld for wasm32, Debian's wasi-libc (a wasip1 sysroot)
# and the compiler-rt builtins for wasm32. Bindings and componentization happen inside keel.
c_packages=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
dpkg -s "${c_packages[@]}" >/dev/null 2>&1 || apt_install "${c_packages[@]}"

# PostgreSQL's server for the store's tests on PostgreSQL (scripts/test.sh starts a throwaway cluster
# with scripts/postgres.sh).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql

# Headless Chromium for the dashboard's browser test (tests/all/dashboard.rs skips without it).
command -v chromium >/dev/null || apt_install chromium || true
