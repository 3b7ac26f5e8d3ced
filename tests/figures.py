"""Checks of a written figure by its pixels (not its byte size): it decodes, has the size of a
figure, and draws something (not a blank canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def assert_figure(path: str | Path, min_height: int = 200, min_width: int = 300) -> np.ndarray:
    """Decode the PNG at `path` and check it is a drawn figure. -> its pixels [H, W, C] in [0, 1]."""
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[0] >= min_height and img.shape[1] >= min_width, img.shape
    rgb = img[..., :3]
    ink = (rgb < 0.9).any(-1)  # pixels darker than the white background: axes, text, curves
    assert 0.005 < ink.mean() < 0.9, f"{path}: {ink.mean():.3f} of the pixels drawn"
    return img
