"""Read a learning curve off CleanRL's published ppo_atari figure (a PNG of one red mean line over a pink
band, light gray gridlines, gray x-axis ticks), at fixed steps: writes `env,algo,step,mean,std,source` rows.

    git show 7a96de22014e13dfb0dbf35b17157a1d9d9c7431:docs/rl-algorithms/ppo/BreakoutNoFrameskip-v4.png > fig.png
    python benchmarks/reference/cleanrl/digitize_figure.py fig.png 414.66 28.09 \
        > benchmarks/reference/cleanrl/ppo_atari_breakout_curve.csv

Calibration, in the figure's own pixels (4256 x 2656): y from the gridlines at returns 100..400 (rows found
as the lines that are light gray over most of the width) and the x-axis at 0; x from the tick marks at
2M, 4M, 6M and 8M steps under the axis. `std` is half the height of the shaded band at that step (the
figure does not say whether the band is a standard deviation or a range). The last row, at 10M steps, is
CleanRL's published table value (the two numbers after the figure's path). Checked: the line reads 411.6
at 9.9M, where that table gives 414.66 +- 28.09 at 10M.
"""

from __future__ import annotations

import sys

import matplotlib.image as mpimg
import numpy as np

SOURCE = "CleanRL ppo_atari.py"


def groups(idx: np.ndarray) -> list[np.ndarray]:
    """Runs of consecutive indices."""
    return np.split(idx, np.nonzero(np.diff(idx) > 1)[0] + 1) if len(idx) else []


def main(path: str, final_mean: str, final_std: str, env: str = "BreakoutNoFrameskip-v4", algo: str = "ppo") -> None:
    im = mpimg.imread(path)[..., :3]
    h, w, _ = im.shape
    r, g, b = im[..., 0], im[..., 1], im[..., 2]
    gray = (abs(r - g) < 0.02) & (abs(g - b) < 0.03) & (r > 0.8) & (r < 0.95)
    rows = [grp.mean() for grp in groups(np.nonzero(gray.sum(1) > 0.5 * w)[0])]
    grid, axis = rows[:-1], rows[-1]  # gridlines at 400, 300, 200, 100 from the top; the axis (0) below them
    px_per_unit = (grid[-1] - grid[0]) / (100.0 * (len(grid) - 1))
    zero_row = grid[-1] + 100 * px_per_unit
    assert abs(zero_row - axis) < 0.01 * h, (zero_row, axis)  # the axis band is where the gridlines put 0
    left = int(max(groups(np.nonzero(gray[int(grid[0])])[0]), key=len)[0])  # the gridline's start: the plot's left
    below = im[int(axis) + 8 : int(axis) + 34, left:, :].mean(-1) < 0.93  # the tick marks under the axis
    ticks = [left + grp.mean() for grp in groups(np.nonzero(below.sum(0) > 13)[0])]
    assert len(ticks) == 4, ticks  # 2M, 4M, 6M, 8M
    px_per_step = (ticks[-1] - ticks[0]) / 6e6
    x0 = ticks[0] - 2e6 * px_per_step
    line = (r > 0.7) & (g < 0.4) & (b < 0.45)
    band = line | ((r > 0.9) & (r - g > 0.03) & (r - b > 0.03))
    top = int(grid[0] - 90 * px_per_unit)  # nothing of the curve above 490: the title and legend lie there
    print("env,algo,step,mean,std,source")
    for step in range(100_000, 10_000_000, 100_000):
        cols = range(int(x0 + step * px_per_step) - 2, int(x0 + step * px_per_step) + 3)
        ys = [np.nonzero(line[top : int(axis) - 6, c])[0].mean() + top for c in cols]
        bs = np.concatenate([np.nonzero(band[top : int(axis) - 6, c])[0] + top for c in cols])
        mean = (zero_row - float(np.mean(ys))) / px_per_unit
        std = (bs.max() - bs.min()) / 2 / px_per_unit
        print(f"{env},{algo},{step},{mean:.1f},{std:.1f},{SOURCE}")
    print(f"{env},{algo},10000000,{final_mean},{final_std},{SOURCE}")


if __name__ == "__main__":
    main(*sys.argv[1:])
