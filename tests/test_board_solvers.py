"""Exact solvers (envs/board/solvers.py) against Pons' published scores, the C backend against the
pure-Python one, and the depth-limited minimax on hand-made threats."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlmeta.envs.board import make
from rlmeta.envs.board.solvers import (
    C4Position,
    Connect4Solver,
    TicTacToeSolver,
    connect4_optimal_moves,
    minimax_connect4,
)

PONS = Path(__file__).resolve().parents[1] / "benchmarks" / "reference" / "connect4"


def _lines(name: str, n: int) -> list[tuple[str, int]]:
    rows = [ln.split() for ln in (PONS / name).read_text().splitlines()[:n]]
    return [(m, int(s)) for m, s in rows]


def test_tictactoe_solver_counts_and_values():
    s = TicTacToeSolver()
    assert len(s.table) == 5478  # reachable positions, a well-known count
    assert sum(1 for v, m in s.table.values() if m) == 4520  # non-terminal ones
    assert s.table[(0,) * 9] == (0, frozenset(range(9)))  # a draw; every first move keeps it
    # X: corner, O: edge next to it -> X wins (value +1 for X to move)
    assert s.table[(1, -1, 0, 0, 0, 0, 0, 0, 0)][0] == 1


@pytest.mark.parametrize("backend", ["python", "c"])
def test_connect4_scores_match_pons(backend):
    try:
        solver = Connect4Solver(backend=backend)
    except RuntimeError:
        pytest.skip("no C compiler")
    cases = _lines("Test_L3_R1", 12) + _lines("Test_L2_R1", 4 if backend == "python" else 40)
    for moves, score in cases:
        assert solver.solve(moves) == score, moves
        assert solver.solve(moves, weak=True) == (score > 0) - (score < 0), moves


def test_connect4_labels_c_equal_python():
    try:
        fast = Connect4Solver(backend="c")
    except RuntimeError:
        pytest.skip("no C compiler")
    slow = Connect4Solver(backend="python")
    for moves, score in _lines("Test_L3_R1", 15) + _lines("Test_L2_R1", 5):
        p = C4Position.from_moves(moves)
        outcome = (score > 0) - (score < 0)
        labels = fast.optimal_columns(p, outcome)
        assert labels == slow.optimal_columns(p, outcome) == slow.optimal_columns(p), moves
        # optimal = the children whose exact outcome equals the best one
        child = slow.child_outcomes(p)
        best = max(v for v in child if v is not None)
        assert best == outcome
        assert labels == [None if v is None else v == best for v in child]


def test_stored_labels_match_solver():
    lab = PONS / "labels" / "Test_L3_R1"
    if not lab.exists():
        pytest.skip("labels not generated")
    solver = Connect4Solver()
    for ln in lab.read_text().splitlines()[:30]:
        m, _score, labels = ln.split()
        cols = solver.optimal_columns(C4Position.from_moves(m))
        assert labels == "".join("." if v is None else "1" if v else "0" for v in cols)


def test_connect4_optimal_moves_on_threats():
    g = make("connect4", 3)
    # row 0 "121212": X (to move) has three in column 1, O three in column 2: only column 1 wins,
    #   every other move lets O win at once.
    # row 1 "22334": X has columns 2-4 on the bottom row, open at 1 and 5; O (to move) cannot stop
    #   both, so every move loses: all are "optimal".
    # row 2: a finished game (X completed column 1): no move at all.
    s = g.from_moves(["121212", "22334", "1212121"])
    assert s.terminal.tolist() == [False, False, True]
    best = connect4_optimal_moves(g, s)
    assert best.tolist() == [[True] + [False] * 6, [True] * 7, [False] * 7]


def test_minimax_takes_wins_and_blocks():
    # X (to move) has three in column 1 ("1212 1 2" -> X at col 1 x3, O at col 2 x2... ): wins at once
    p = C4Position.from_moves("12121")  # X: 1,1,1; O: 2,2; O to move must block column 1
    vals = minimax_connect4(p, depth=2)
    assert max(range(7), key=lambda c: vals[c]) == 0  # only column 1 avoids losing at once
    p = C4Position.from_moves("121212")  # X to move with three in column 1: wins now
    vals = minimax_connect4(p, depth=1)
    assert vals[0] == max(v for v in vals if v is not None) and vals[0] > 900
