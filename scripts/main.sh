#!/usr/bin/env bash
# Set up (idempotent) and run the main job: the smoke benchmark suite (trains, plots, writes a table).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/rlmeta bench smoke --budget smoke --out "${1:-runs/bench-smoke}"
