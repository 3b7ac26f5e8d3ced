"""Atomic checkpoints: write to a temp file in the same directory, fsync, then os.replace.

A crash mid-write leaves the previous checkpoint intact; a corrupt file gives a one-line error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from rlmeta.errors import ConfigError

FORMAT = "rlmeta-checkpoint-v1"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no checkpoint at {path}")
    try:
        # weights_only=False: the payload holds RNG states (numpy arrays, python tuples). Only load
        # checkpoints you wrote yourself.
        data = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # truncated zip, bad pickle, ...
        raise ConfigError(f"corrupt checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0][:120]}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"corrupt checkpoint {path}: not an {FORMAT} file")
    return data
