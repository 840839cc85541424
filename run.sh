#!/usr/bin/env bash
# One entry point for a fresh machine: sets gesturekit up (once), then runs what was asked.
#   bash run.sh demo [ARGS...]   the main job on built-in data, results in ./gesturekit-demo
#                                (installs gesturekit[all]: every optional feature)
#   bash run.sh test [ARGS...]   the whole test suite (pytest; installs gesturekit[dev]: all + test tools)
#   bash run.sh setup            set-up only (gesturekit[dev])
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup() {
    local extras=${1:-dev}  # `dev` holds everything `all` holds
    # A bare `torch` requirement would pull a multi-GB CUDA build; take the CPU wheel first.
    if ! "$PY" -c "import torch" >/dev/null 2>&1; then
        "$PY" -m pip install -q torch==2.13.0 \
            || "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
    fi
    # Reinstall only when the package metadata or the extras asked for changed since the last set-up.
    local stamp=".setup-stamp" sha have=""
    sha=$(sha256sum pyproject.toml | cut -d' ' -f1)
    [ -f "$stamp" ] && have=$(cat "$stamp")
    if { [ "$have" != "$sha $extras" ] && [ "$have" != "$sha dev" ]; } \
        || ! "$PY" -c "import gesturekit" >/dev/null 2>&1; then
        "$PY" -m pip install -q -e ".[$extras]"
        echo "$sha $extras" > "$stamp"
    fi
}

cmd=${1:-demo}
shift || true
case "$cmd" in
    setup) setup ;;
    demo) setup all; exec "$PY" -m gesturekit demo --out gesturekit-demo "$@" ;;
    test) setup dev; exec "$PY" -m pytest -q "$@" ;;
    *) echo "usage: bash run.sh demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
