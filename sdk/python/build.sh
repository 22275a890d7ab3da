#!/usr/bin/env bash
# Builds a Keel module from a Python app in one command: componentize-py generates the keel:workflow
# bindings (`wit_world`) from the WIT and bundles CPython, the SDK and the app into one component.
#
#   sdk/python/build.sh APP_DIR OUT.wasm [MODULE]
#
# MODULE (default `app`) is the Python module in APP_DIR that registers functions with @orchestrator and
# @activity. KEEL_WIT overrides the WIT directory (default: the repository's wit/).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 APP_DIR OUT.wasm [MODULE]" >&2
    exit 2
fi
sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app_dir="$(cd "$1" && pwd)"
out="$2"
module="${3:-app}"
wit="${KEEL_WIT:-$sdk/../../wit}"
componentize="${COMPONENTIZE_PY:-componentize-py}"

if ! command -v "$componentize" >/dev/null; then
    echo "$0: componentize-py not found; install it with: python3 -m pip install -r $sdk/requirements.txt" >&2
    exit 1
fi
if [[ ! -f "$app_dir/$module.py" && ! -f "$app_dir/$module/__init__.py" ]]; then
    echo "$0: no Python module '$module' in $app_dir" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The entry module: importing the app registers its functions, then the SDK's export classes are what
# componentize-py looks for. Generated so that apps never spell out the exports themselves.
cat >"$work/keel_main.py" <<PY
import $module  # noqa: F401  registers the app's orchestrators and activities
from keel_sdk.exports import Activities, Manifest, Orchestrators  # noqa: F401
PY

# Copies, so that the build writes no __pycache__ into the sources and parallel builds share nothing.
mkdir -p "$work/app"
cp -R "$app_dir/." "$work/app/"
cp -R "$sdk/keel_sdk" "$work/"
find "$work" -name __pycache__ -prune -exec rm -rf {} +

mkdir -p "$(dirname "$out")"
"$componentize" -q -d "$wit" -w module componentize keel_main \
    -p "$work" -p "$work/app" -o "$out"
