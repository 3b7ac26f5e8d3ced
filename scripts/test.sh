#!/usr/bin/env bash
# Set up (idempotent, with every optional extra so no test skips for a missing package) and run
# the test suite. This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
RLMETA_EXTRAS=${RLMETA_EXTRAS:-dev,compare,dist,sweep,video,gpu,meta} bash scripts/setup.sh
export WANDB_MODE=offline WANDB_SILENT=true MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/python -m pytest -q "$@"
