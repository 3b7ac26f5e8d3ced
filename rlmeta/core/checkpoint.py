"""Atomic, verified checkpoints that are safe to load from someone else.

Writing: the payload is serialised in memory, its SHA-256 computed, and the file written to a temp
file in the same directory, fsynced, renamed over the old one, and the directory fsynced (so the
rename itself survives a power cut). A crash mid-write leaves the previous checkpoint intact; temp
files of writes that were killed are removed by the next write; a full disk is one line
(`CheckpointError`), not a C++ assert.

Loading never runs code: `torch.load(weights_only=True)` accepts only tensors and plain Python
containers/numbers/strings, so numpy arrays and numpy scalars in a payload (RNG states, normaliser
statistics, simulator states) are stored as tagged tensors and turned back into numpy on load.
The SHA-256 of the inner payload is checked before it is unpickled: a flipped byte is a one-line
"corrupt checkpoint" error, never silently different weights.

File layout (a normal torch file): {"format": FORMAT, "sha256": hex, "payload": uint8 tensor of
the torch.save bytes of the converted payload}.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlmeta.core.errors import ConfigError

FORMAT = "rlmeta-checkpoint-v2"
OLD_FORMATS = ("rlmeta-checkpoint-v1",)
_ND = "__ndarray__"  # tag of a numpy array stored as a tensor
_NP_SCALAR = "__npscalar__"


class CheckpointError(ConfigError):
    """A checkpoint could not be written (disk full, read-only directory) or read (corrupt, unsafe)."""


# ---------------------------------------------------------------------- numpy <-> tensors
def to_safe(obj: Any) -> Any:
    """Payload -> the same structure with numpy arrays/scalars as tagged tensors (weights_only-loadable)."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("a checkpoint cannot hold numpy object arrays")
        # uint32 (numpy's MT19937 state) and other dtypes torch handles partially travel as int64/bool/float
        t = torch.from_numpy(np.ascontiguousarray(obj).astype(_storage_dtype(obj.dtype), copy=True))
        return {_ND: t, "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {_NP_SCALAR: obj.item(), "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        return {k: to_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [to_safe(v) for v in obj]
        return tuple(out) if isinstance(obj, tuple) else out
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor)):
        return obj
    raise TypeError(f"a checkpoint cannot hold {type(obj).__name__} (only tensors, numpy and plain Python values)")


def from_safe(obj: Any) -> Any:
    """Inverse of to_safe."""
    if isinstance(obj, dict):
        if _ND in obj:
            return obj[_ND].numpy().astype(np.dtype(obj["dtype"])).reshape(obj["shape"])
        if _NP_SCALAR in obj:
            return np.dtype(obj["dtype"]).type(obj[_NP_SCALAR])
        return {k: from_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [from_safe(v) for v in obj]
        return tuple(out) if isinstance(obj, tuple) else out
    return obj


def _storage_dtype(dt: np.dtype) -> np.dtype:
    """torch.from_numpy takes bool, (u)int8, int16-64, floats and complex; wider unsigned ints go as int64."""
    if dt == np.uint64:
        raise TypeError("a checkpoint cannot hold uint64 arrays")
    return np.dtype(np.int64) if dt.kind == "u" and dt.itemsize > 1 else dt


# ---------------------------------------------------------------------- write
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not supported here (e.g. some network filesystems): the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(path: Path) -> None:
    """Temp files a killed write left behind (a SAC replay buffer makes each large)."""
    for tmp in path.parent.glob(f"{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` (tensors, numpy, plain Python) atomically to `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        inner = io.BytesIO()
        torch.save(to_safe(payload), inner)
        blob = inner.getvalue()
        outer = io.BytesIO()
        torch.save(
            {
                "format": FORMAT,
                "sha256": hashlib.sha256(blob).hexdigest(),
                "payload": torch.frombuffer(bytearray(blob), dtype=torch.uint8),
            },
            outer,
        )
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(outer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            hint = " (disk full)" if e.errno == errno.ENOSPC else ""
            raise CheckpointError(
                f"cannot write checkpoint {path}{hint}: {e.strerror or e}; the previous checkpoint is intact"
            ) from None
        raise


# ---------------------------------------------------------------------- read
def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Verify and load a checkpoint written by save_checkpoint; never unpickles code."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    if not path.is_file():  # a FIFO or a device would block the read, or never end
        raise CheckpointError(f"{path} is not a regular file (a pipe or a device?), not a checkpoint")
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, a pickle that asks for code, ...
        raise CheckpointError(
            f"corrupt checkpoint {path}: not a readable rlmeta checkpoint ({type(e).__name__}: "
            "damaged, truncated, from an rlmeta before checkpoint format v2, or holding "
            "objects that would run code on load)"
        ) from None
    if isinstance(outer, dict) and outer.get("format") in OLD_FORMATS:
        raise CheckpointError(
            f"{path} was written by an older rlmeta (format {outer['format']}) whose "
            "checkpoints need unsafe loading; resume it with that version"
        )
    if (
        not isinstance(outer, dict)
        or outer.get("format") != FORMAT
        or not isinstance(outer.get("payload"), torch.Tensor)
    ):
        raise CheckpointError(f"corrupt checkpoint {path}: not an {FORMAT} file")
    blob = outer["payload"].numpy().tobytes()
    if hashlib.sha256(blob).hexdigest() != outer.get("sha256"):
        raise CheckpointError(f"corrupt checkpoint {path}: SHA-256 mismatch (the file was changed or damaged)")
    try:
        data = torch.load(io.BytesIO(blob), map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"corrupt checkpoint {path}: {type(e).__name__}: {_first_line(e)}") from None
    return from_safe(data)


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0][:160] if str(e) else ""
