"""Label Pascal Pons' Connect Four test positions with their optimal moves, once.

For every position of benchmarks/reference/connect4/Test_L?_R? this writes a line
`moves score labels` to benchmarks/reference/connect4/labels/<file>, where `labels` has 7
characters, one per column: 1 = the move keeps the position's game-theoretic outcome, 0 = a mistake
(strictly worse outcome), . = full column. `rlmeta eval connect4` reads these instead of solving.

Each label is one null-window search of the exact solver (envs/board/c4solver.c) on the child
position. Measured on this machine (2-core CPU, one core): End/Middle-Easy under 1 ms per position,
Middle-Medium about 25 ms, Begin-Medium about 0.1 s, Begin-Easy about 0.5 s, Begin-Hard about 7 s
(5*10^7 nodes). The script appends and resumes, so it can be stopped at any time; --max-seconds
bounds each set (the Begin-Hard labels then cover a prefix of the file).

    nice -n 19 .venv/bin/python benchmarks/alphazero_pons_labels.py --max-seconds 1500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.agents.alphazero.evaluate import LABELS_DIR, PONS_SETS, read_pons
from rlmeta.envs.board.solvers import C4Position, Connect4Solver


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="benchmarks/reference/connect4", help="directory of the Pons test files")
    p.add_argument("--sets", nargs="*", default=list(PONS_SETS), help="test files to label")
    p.add_argument("--max-seconds", type=float, default=float("inf"), help="time budget per set")
    a = p.parse_args()
    solver = Connect4Solver(backend="c")
    out_dir = Path(a.dir) / LABELS_DIR
    out_dir.mkdir(exist_ok=True)
    for name in a.sets:
        moves, scores = read_pons(Path(a.dir) / name)
        out = out_dir / name
        done = len(out.read_text().splitlines()) if out.exists() else 0
        t0, n0 = time.perf_counter(), solver.nodes
        with out.open("a") as f:
            for m, sc in list(zip(moves, scores))[done:]:
                if time.perf_counter() - t0 > a.max_seconds:
                    break
                cols = solver.optimal_columns(C4Position.from_moves(m), (sc > 0) - (sc < 0))
                f.write(f"{m} {sc} {''.join('.' if v is None else '1' if v else '0' for v in cols)}\n")
                f.flush()
                done += 1
        dt = time.perf_counter() - t0
        print(
            f"{name} ({PONS_SETS[name]}): {done}/{len(moves)} labelled, {dt:.0f} s this run, {solver.nodes - n0} nodes",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
