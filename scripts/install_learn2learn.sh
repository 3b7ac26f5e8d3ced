#!/usr/bin/env bash
# Build and install learn2learn 0.2.0 (the last release, sdist only) so that it works on Python >= 3.11
# with the installed torch. scripts/setup.sh calls this when the `meta` extra is requested; by hand:
#   bash scripts/install_learn2learn.sh && .venv/bin/pip install -e '.[meta]'
# Why not `pip install learn2learn`: its sdist compiles Cython-generated C files from 2020 that do
# not build on Python >= 3.11, and it imports torchvision and the old `gym` at import time. There is
# no CPU torchvision on PyPI: its Linux wheels link libtorch_cuda, and with the CPU torch
# `import torchvision` raises (torchvision::nms does not exist). scripts/learn2learn-0.2.0.patch
# (read it, it is short) therefore
#   - builds with a current Cython (pyproject.toml build requirement) from the shipped .pyx sources,
#   - imports learn2learn.vision (torchvision) and learn2learn.gym (old gym) on first access only,
#     and moves their requirements to extras, so nothing can pull a torch of another build,
#   - stops installing learn2learn's own `tests` package, and marks the version 0.2.0+rlmeta1.
# Idempotent: does nothing when `import learn2learn` already works.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=0.2.0
say() { echo "install_learn2learn: $*" >&2; }
if "$PY" -c "import learn2learn" 2>/dev/null; then
  say "learn2learn $("$PY" -c 'import learn2learn; print(learn2learn.__version__)') already works"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "downloading the learn2learn $VERSION sdist"
# The timeouts turn a stalled index or build into an error instead of a hung setup.
timeout 300 "$PY" -m pip download -q --no-deps --no-binary learn2learn "learn2learn==$VERSION" -d "$work"
tar xzf "$work/learn2learn-$VERSION.tar.gz" -C "$work"
src="$work/learn2learn-$VERSION"
# The stale C files and the bundled Cython 0.29 egg must not be used; the patch regenerates the C.
rm -rf "$src/.eggs" "$src"/learn2learn/data/*.c
git -C "$src" apply "$PWD/scripts/learn2learn-$VERSION.patch"
say "building with Cython 3 (about a minute)"
timeout 900 "$PY" -m pip install -q "$src"
"$PY" -c "import learn2learn; print('install_learn2learn: installed learn2learn', learn2learn.__version__)" >&2
