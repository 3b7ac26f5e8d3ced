#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=offline WANDB_SILENT=true MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/python -m pytest -q "$@"
