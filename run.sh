#!/usr/bin/env bash
# One entry point for a fresh machine: sets gesturekit up (once), then runs what was asked.
#   bash run.sh demo [ARGS...]   the main job on built-in data, results in ./gesturekit-demo
#   bash run.sh test [ARGS...]   the whole test suite (pytest)
#   bash run.sh setup            set-up only
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup() {
    # A bare `torch` requirement would pull a multi-GB CUDA build; take the CPU wheel first.
    if ! "$PY" -c "import torch" >/dev/null 2>&1; then
        "$PY" -m pip install -q torch==2.13.0 \
            || "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
    fi
    # Reinstall only when the package metadata changed since the last set-up.
    local stamp=".setup-stamp" want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] \
        || ! "$PY" -c "import gesturekit" >/dev/null 2>&1; then
        "$PY" -m pip install -q -e ".[dev]"
        echo "$want" > "$stamp"
    fi
}

cmd=${1:-demo}
shift || true
case "$cmd" in
    setup) setup ;;
    demo) setup; exec "$PY" -m gesturekit demo --out gesturekit-demo "$@" ;;
    test) setup; exec "$PY" -m pytest -q "$@" ;;
    *) echo "usage: bash run.sh demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
