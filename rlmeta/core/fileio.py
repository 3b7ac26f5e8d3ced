"""Small files written whole or not at all (config.json, progress.csv): a temp file in the same
folder, renamed over the old one. A failure (a full disk, a read-only folder) removes the temp file
and raises an OSError that names the file, which the command line turns into one line."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = Path(str(path) + ".tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None


def append_text(path: str | Path, text: str) -> None:
    """Append `text` to `path`; an OSError names the file."""
    try:
        with open(path, "a", newline="") as f:
            f.write(text)
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
