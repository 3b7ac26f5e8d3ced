#!/usr/bin/env bash
# Create .venv and install rlmeta with its test and comparison extras.
# torch: on a machine without an NVIDIA GPU we install torch==2.13.0 first (a CPU wheel lies on
# the local disk here), so the `torch>=2.1` requirement is already met and pip never downloads
# a multi-gigabyte CUDA build. With a GPU, pip's default (CUDA) torch is what you want.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${RLMETA_EXTRAS:-dev,compare}
say() { echo "setup: $*" >&2; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    say "installing torch with CUDA (a few GB, several minutes)"
    $PIP install -q "torch>=2.1"
  else
    say "installing torch 2.13.0 (CPU wheel)"
    $PIP install -q "torch==2.13.0" || $PIP install -q "torch>=2.1" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
# learn2learn has no release that builds on Python >= 3.11: build it from its sdist first, so the
# `meta` extra's requirement is already met (see scripts/install_learn2learn.sh).
case ",${EXTRAS}," in *,meta,*) bash scripts/install_learn2learn.sh ;; esac
say "installing rlmeta[${EXTRAS}] and its dependencies (about 4 minutes on a fresh machine, seconds when present)"
$PIP install -q -e ".[${EXTRAS}]"
say "done"
# Headless MuJoCo rendering (videos) uses EGL through mesa's software renderer; install it where it
# is missing and we may (root with apt). Non-fatal: only --capture-video / rlmeta render need it.
if ! ldconfig -p 2>/dev/null | grep -q "libEGL_mesa"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null 2>&1 ||
      echo "setup: could not install EGL (libegl1 libegl-mesa0 libgl1-mesa-dri); videos will be unavailable" >&2)
  else
    echo "setup: for videos install libegl1 libegl-mesa0 libgl1-mesa-dri (or libosmesa6 with MUJOCO_GL=osmesa)" >&2
  fi
fi
