#!/usr/bin/env bash
# Builds a Keel module from one JavaScript app file: `sdk/javascript/build.sh APP.js OUT.wasm`.
# The app imports the SDK as '@keel/sdk'; this script stages the app (and the .js files beside it) with
# the SDK in a temporary directory, points that specifier at the SDK by a relative path, adds an entry
# module that re-exports the SDK's exports, assembles the WIT (the repository's wit/keel.wit and the WASI
# 0.2.12 packages vendored in wit/deps, plus the SDK's world) and runs componentize-js with its `http`
# feature on, so that activities can use `fetch` (over wasi:http/outgoing-handler, which Keel provides
# under grants). Only `fetch-event` (serving incoming requests) stays disabled.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 APP.js OUT.wasm" >&2
    exit 2
fi
sdk="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$sdk/../.." && pwd)"
app="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

componentize="$sdk/node_modules/.bin/componentize-js"
if [ ! -x "$componentize" ]; then
    npm ci --prefix "$sdk" --no-audit --no-fund >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/keel-js-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src" "$work/wit/deps/keel"
cp "$repo/wit/keel.wit" "$work/wit/deps/keel/keel.wit"
# One file per WASI package (cli, clocks, http, io, ...): a dependency may be a single .wit file.
cp "$repo"/wit/deps/*.wit "$work/wit/deps/"
cp "$sdk/wit/world.wit" "$work/wit/world.wit"

cp "$sdk/src/index.js" "$work/src/keel-sdk.js"
for file in "$(dirname "$app")"/*.js "$(dirname "$app")"/*.mjs; do
    [ -f "$file" ] || continue
    # The one "bundling" step: the bare specifier becomes a relative path StarlingMonkey can load.
    sed -e "s#from[[:space:]]*['\"]@keel/sdk['\"]#from './keel-sdk.js'#g" "$file" >"$work/src/$(basename "$file")"
done
cat >"$work/src/entry.js" <<ENTRY
import './$(basename "$app")';
export { orchestrators, activities, manifest } from './keel-sdk.js';
ENTRY

mkdir -p "$(dirname "$out")"
"$componentize" "$work/src/entry.js" --wit "$work/wit" --world-name module \
    -d fetch-event -o "$out"
