"""Exact solvers used to evaluate agents on board games.

- `TicTacToeSolver`: minimax over all 5478 positions reachable from the empty board.
- `Connect4Solver`: Pascal Pons' strong solver (negamax + alpha-beta on bitboards, transposition
  table, centre-first ordering refined by the number of threats a move creates, losing-move
  pruning, null-window bisection on the score), returning scores in Pons' convention. The same
  algorithm exists in C (c4solver.c, compiled with the system C compiler on first use and loaded
  with ctypes): the Begin-Medium/Hard Pons positions need 10^6-10^8 nodes, hours in Python.
  `backend="python"` forces the pure-Python search (no compiler needed).
- `minimax_connect4`: depth-limited negamax with a line-counting heuristic (the depth-5 baseline).

They label evaluation positions; they are not in any loop an agent trains through.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor

_TTT_LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


class TicTacToeSolver:
    """Exact tic-tac-toe values: `table[cells] = (value, optimal_moves)`.

    `cells` is a 9-tuple in our board convention (+1 player 0 / X, -1 player 1 / O, 0 empty,
    row-major); `value` is the game-theoretic outcome for the player to move (+1 win, 0 draw,
    -1 loss); `optimal_moves` the frozenset of actions achieving it (empty when terminal).
    `plies[cells]`: plies to the end of the game when the winner wins as fast as it can and the
    loser delays as long as it can (a draw fills the board); 0 when terminal.

    Example:
        >>> s = TicTacToeSolver()
        >>> len(s.table), s.table[(0,) * 9]
        (5478, (0, frozenset({0, 1, 2, 3, 4, 5, 6, 7, 8})))
    """

    def __init__(self) -> None:
        self.table: dict[tuple[int, ...], tuple[int, frozenset[int]]] = {}
        self.plies: dict[tuple[int, ...], int] = {}
        self._solve((0,) * 9)

    @staticmethod
    def winner(cells: tuple[int, ...]) -> int:
        """+1 / -1 for the side with three in a row, else 0."""
        for a, b, c in _TTT_LINES:
            if cells[a] != 0 and cells[a] == cells[b] == cells[c]:
                return cells[a]
        return 0

    def _solve(self, cells: tuple[int, ...]) -> int:
        if cells in self.table:
            return self.table[cells][0]
        empty = [i for i in range(9) if cells[i] == 0]
        self.plies[cells] = 0
        if self.winner(cells) != 0:  # the previous mover won
            self.table[cells] = (-1, frozenset())
            return -1
        if not empty:
            self.table[cells] = (0, frozenset())
            return 0
        sign = 1 if len(empty) % 2 == 1 else -1  # X moves when an odd number of cells is empty
        vals, plies = {}, {}
        for a in empty:
            child = cells[:a] + (sign,) + cells[a + 1 :]
            vals[a] = -self._solve(child)
            plies[a] = 1 + self.plies[child]
        best = max(vals.values())
        optimal = [a for a, v in vals.items() if v == best]
        # a win as fast, a loss as late as possible (a draw always fills the board)
        self.plies[cells] = (min if best > 0 else max)(plies[a] for a in optimal)
        self.table[cells] = (best, frozenset(optimal))
        return best

    def value(self, board: Tensor) -> Tensor:
        """[B, 3, 3] boards -> [B] int64 values for the player to move."""
        return torch.tensor([self.table[tuple(b)][0] for b in board.flatten(1).tolist()], dtype=torch.long)

    def optimal_mask(self, board: Tensor) -> Tensor:
        """[B, 3, 3] boards -> [B, 9] bool: the value-optimal moves."""
        out = torch.zeros(board.shape[0], 9, dtype=torch.bool)
        for i, b in enumerate(board.flatten(1).tolist()):
            for a in self.table[tuple(b)][1]:
                out[i, a] = True
        return out


# ---------------------------------------------------------------------------------------------
# Connect Four (7 x 6), after Pascal Pons, "Solving Connect 4: how to build a perfect AI"
# (http://blog.gamesolver.org) and github.com/PascalPons/connect4 (solver.cpp, position.hpp).
# Bitboard: column c occupies bits c*7 .. c*7+5 (bit c*7 = bottom), bit c*7+6 is a sentinel.
WIDTH, HEIGHT = 7, 6
H1 = HEIGHT + 1
MIN_SCORE = -(WIDTH * HEIGHT) // 2 + 3  # -18
MAX_SCORE = (WIDTH * HEIGHT + 1) // 2 - 3  # 18
_BOTTOM = sum(1 << (c * H1) for c in range(WIDTH))
_BOARD = _BOTTOM * ((1 << HEIGHT) - 1)
_COL = [((1 << HEIGHT) - 1) << (c * H1) for c in range(WIDTH)]
_TOP = [1 << (HEIGHT - 1 + c * H1) for c in range(WIDTH)]
_BOT = [1 << (c * H1) for c in range(WIDTH)]
_ORDER = [WIDTH // 2 + (1 - 2 * (i % 2)) * (i + 1) // 2 for i in range(WIDTH)]  # 3, 2, 4, 1, 5, 0, 6


def _winning_cells(pos: int, mask: int) -> int:
    """Empty cells (bitboard) that would complete four for the stones `pos`."""
    r = (pos << 1) & (pos << 2) & (pos << 3)  # vertical
    for s in (H1, HEIGHT, H1 + 1):  # horizontal, both diagonals
        p = (pos << s) & (pos << 2 * s)
        r |= p & (pos << 3 * s)
        r |= p & (pos >> s)
        p = (pos >> s) & (pos >> 2 * s)
        r |= p & (pos << s)
        r |= p & (pos >> 3 * s)
    return r & (_BOARD ^ mask)


def _tdiv2(x: int) -> int:
    """x / 2 truncated toward zero, as C++ does (Python's // floors)."""
    return -((-x) // 2) if x < 0 else x // 2


def _popcount(x: int) -> int:
    return bin(x).count("1")


class C4Position:
    """Pons' Position: `cur` = stones of the player to move, `mask` = all stones, `n` = plies."""

    __slots__ = ("cur", "mask", "n")

    def __init__(self, cur: int = 0, mask: int = 0, n: int = 0):
        self.cur, self.mask, self.n = cur, mask, n

    @classmethod
    def from_moves(cls, moves: str) -> C4Position:
        """Pons move string (columns 1..7). Raises ValueError on a full column or a finished game."""
        p = cls()
        for ch in moves:
            c = int(ch) - 1
            if not 0 <= c < WIDTH or p.mask & _TOP[c]:
                raise ValueError(f"invalid move {ch} in {moves}")
            if p.is_winning_move(c):
                raise ValueError(f"{moves} continues after a win")
            p.play_col(c)
        return p

    @classmethod
    def from_board(cls, board, player: int) -> C4Position:
        """Our board convention ([6, 7], row 0 top, +1 player 0) and the player to move."""
        me = 1 - 2 * player
        cur = mask = 0
        for r in range(HEIGHT):
            for c in range(WIDTH):
                v = int(board[r][c])
                if v:
                    bit = 1 << (c * H1 + (HEIGHT - 1 - r))
                    mask |= bit
                    if v == me:
                        cur |= bit
        return cls(cur, mask, _popcount(mask))

    def key(self) -> int:
        return self.cur + self.mask

    def can_play(self, c: int) -> bool:
        return not self.mask & _TOP[c]

    def play(self, move_bit: int) -> None:
        self.cur ^= self.mask
        self.mask |= move_bit
        self.n += 1

    def play_col(self, c: int) -> None:
        self.play((self.mask + _BOT[c]) & _COL[c])

    def is_winning_move(self, c: int) -> bool:
        return bool(_winning_cells(self.cur, self.mask) & self.possible() & _COL[c])

    def possible(self) -> int:
        return (self.mask + _BOTTOM) & _BOARD

    def can_win_next(self) -> bool:
        return bool(_winning_cells(self.cur, self.mask) & self.possible())

    def non_losing_moves(self) -> int:
        """Moves that neither leave an immediate opponent win nor play under one."""
        possible = self.possible()
        opp_win = _winning_cells(self.cur ^ self.mask, self.mask)
        forced = possible & opp_win
        if forced:
            if forced & (forced - 1):
                return 0  # two threats: every move loses
            possible = forced
        return possible & ~(opp_win >> 1)


@lru_cache(maxsize=1)
def _c_library() -> Optional[ctypes.CDLL]:
    """Compile c4solver.c once per source version into a cache directory and load it; None when no
    C compiler is available (the Python search is then used)."""
    src = Path(__file__).with_name("c4solver.c")
    digest = hashlib.sha1(src.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rlmeta"
    lib = cache / f"c4solver-{digest}.so"
    if not lib.exists():
        cc = os.environ.get("CC", "cc")
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        try:
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [cc, "-O3", "-shared", "-fPIC", "-o", str(tmp), str(src)], check=True, capture_output=True, timeout=120
            )
            os.replace(tmp, lib)  # atomic: parallel processes never load a half-written file
        except (OSError, subprocess.SubprocessError):
            tmp.unlink(missing_ok=True)
            return None
    dll = ctypes.CDLL(str(lib))
    dll.c4_solve.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int, ctypes.c_int]
    dll.c4_solve.restype = ctypes.c_int
    dll.c4_nodes.restype = ctypes.c_uint64
    dll.c4_negamax.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    dll.c4_negamax.restype = ctypes.c_int
    if dll.c4_init() != 0:
        return None
    return dll


class Connect4Solver:
    """Exact Connect Four scores in Pons' convention, for the player to move: positive = win
    (22 minus the number of stones the winner has played at the end of the game, under best
    play), 0 = draw, negative = loss.

    The transposition table (upper bounds at fail-low, lower bounds at fail-high, as Pons' final
    solver) persists across calls;
    `nodes` counts negamax calls. backend: "auto" (C if a compiler is found, else Python), "c" or
    "python" (the C library's table is shared by all C-backed solvers of the process).

    Example:
        >>> Connect4Solver().solve("2252576253462244111563365343671351441")
        -1
    """

    def __init__(self, max_table: int = 4_000_000, backend: str = "auto"):
        self.table: dict[int, tuple[int, bool]] = {}
        self.max_table = max_table
        self._nodes = 0
        self._lib = None
        if backend not in ("auto", "c", "python"):
            raise ValueError(f"backend must be auto, c or python, got {backend!r}")
        if backend != "python":
            self._lib = _c_library()
            if self._lib is None and backend == "c":
                raise RuntimeError("could not compile envs/board/c4solver.c (is a C compiler installed?)")
        self.backend = "c" if self._lib is not None else "python"

    @property
    def nodes(self) -> int:
        return int(self._lib.c4_nodes()) if self._lib is not None else self._nodes

    def _negamax(self, p: C4Position, alpha: int, beta: int) -> int:
        self._nodes += 1
        nxt = p.non_losing_moves()
        if not nxt:
            return -((WIDTH * HEIGHT - p.n) // 2)
        if p.n >= WIDTH * HEIGHT - 2:
            return 0
        lo = -((WIDTH * HEIGHT - 2 - p.n) // 2)
        if alpha < lo:
            alpha = lo
            if alpha >= beta:
                return alpha
        hi = (WIDTH * HEIGHT - 1 - p.n) // 2
        key = p.cur + p.mask
        val = self.table.get(key)  # (bound, is_lower)
        if val is not None:
            if val[1]:
                lo = val[0]
                if alpha < lo:
                    alpha = lo
                    if alpha >= beta:
                        return alpha
            else:
                hi = val[0]
        if beta > hi:
            beta = hi
            if alpha >= beta:
                return beta
        # order: most new threats first, ties broken centre-first (stable sort over _ORDER)
        cands = []
        for c in _ORDER:
            mv = nxt & _COL[c]
            if mv:
                cands.append((_popcount(_winning_cells(p.cur | mv, p.mask)), mv))
        cands.sort(key=lambda t: -t[0])
        cur, mask, n = p.cur, p.mask, p.n
        for _, mv in cands:
            child = C4Position(cur ^ mask, mask | mv, n + 1)
            score = -self._negamax(child, -beta, -alpha)
            if score >= beta:
                self._store(key, score, True)
                return score
            if score > alpha:
                alpha = score
        self._store(key, alpha, False)
        return alpha

    def _store(self, key: int, bound: int, lower: bool) -> None:
        if len(self.table) >= self.max_table:
            self.table.clear()
        self.table[key] = (bound, lower)

    def solve_position(self, p: C4Position, weak: bool = False) -> int:
        """Exact score (weak=True: only its sign, -1 / 0 / +1)."""
        if self._lib is not None:
            score = int(self._lib.c4_solve(p.cur, p.mask, p.n, int(weak)))
            return (score > 0) - (score < 0) if weak else score
        if p.n >= WIDTH * HEIGHT:
            return 0
        if p.can_win_next():
            return 1 if weak else (WIDTH * HEIGHT + 1 - p.n) // 2
        lo, hi = -((WIDTH * HEIGHT - p.n) // 2), (WIDTH * HEIGHT + 1 - p.n) // 2
        if weak:
            lo, hi = -1, 1
        while lo < hi:  # null-window bisection on the score
            med = lo + (hi - lo) // 2
            if med <= 0 and _tdiv2(lo) < med:  # C++ integer division truncates toward 0
                med = _tdiv2(lo)
            elif med >= 0 and hi // 2 > med:
                med = hi // 2
            r = self._negamax(p, med, med + 1)
            if r <= med:
                hi = r
            else:
                lo = r
        # the search is fail-soft: a weak solve may end outside [-1, 1]; only its sign counts
        return (lo > 0) - (lo < 0) if weak else lo

    def solve(self, moves: str, weak: bool = False) -> int:
        """Score of the position reached by a Pons move string."""
        return self.solve_position(C4Position.from_moves(moves), weak)

    def child_scores(self, moves: str, weak: bool = False) -> list[int | None]:
        """Score of each of the 7 moves for the player to move (None = column full): a
        winning move scores (WIDTH*HEIGHT + 1 - n) // 2, else -(opponent's score after it)."""
        p = C4Position.from_moves(moves)
        out: list[int | None] = []
        for c in range(WIDTH):
            if not p.can_play(c):
                out.append(None)
            elif p.is_winning_move(c):
                out.append(1 if weak else (WIDTH * HEIGHT + 1 - p.n) // 2)
            else:
                child = C4Position(p.cur, p.mask, p.n)
                child.play_col(c)
                out.append(-self.solve_position(child, weak))
        return out

    def _null_window(self, p: C4Position, alpha: int) -> int:
        """negamax(p) in the window [alpha, alpha + 1]: a result <= alpha means score <= alpha."""
        if self._lib is not None:
            return int(self._lib.c4_negamax(p.cur, p.mask, p.n, alpha, alpha + 1))
        return self._negamax(p, alpha, alpha + 1)

    def optimal_columns(self, p: C4Position, outcome: Optional[int] = None) -> list[Optional[bool]]:
        """For each column of p: True if playing it keeps the position's game-theoretic outcome
        (win > draw > loss), False if it is a mistake, None if the column is full. `outcome` (+1 /
        0 / -1 for the player to move) may be given (e.g. from a Pons test line) to skip solving p.

        One null-window search per column instead of a full solve: a column is optimal in a won
        position iff the opponent's score after it is < 0, in a drawn one iff it is <= 0; in a
        lost position every move is optimal."""
        if outcome is None:
            outcome = self.solve_position(p, weak=True)
        out: list[Optional[bool]] = []
        for c in range(WIDTH):
            if not p.can_play(c):
                out.append(None)
            elif outcome < 0 or p.is_winning_move(c):
                out.append(True)
            else:
                child = C4Position(p.cur, p.mask, p.n)
                child.play_col(c)
                if child.can_win_next():
                    out.append(False)
                elif child.n >= WIDTH * HEIGHT:
                    out.append(outcome == 0)
                elif outcome > 0:
                    out.append(self._null_window(child, -1) <= -1)
                else:
                    out.append(self._null_window(child, 0) <= 0)
        return out

    def child_outcomes(self, p: C4Position) -> list[Optional[int]]:
        """Game-theoretic outcome (+1 win / 0 draw / -1 loss for the player to move) of each of the
        7 columns of position p; None where the column is full."""
        out: list[Optional[int]] = []
        for c in range(WIDTH):
            if not p.can_play(c):
                out.append(None)
            elif p.is_winning_move(c):
                out.append(1)
            else:
                child = C4Position(p.cur, p.mask, p.n)
                child.play_col(c)
                out.append(-self.solve_position(child, weak=True))
        return out


def connect4_positions(state: Any) -> list[C4Position]:
    """Our batched connect4 State -> one C4Position per row."""
    boards = state.board.cpu().tolist()
    players = state.player.cpu().tolist()
    return [C4Position.from_board(b, p) for b, p in zip(boards, players)]


@lru_cache(maxsize=1)
def connect4_solver() -> Connect4Solver:
    """A shared Connect4Solver (its transposition table persists between calls)."""
    return Connect4Solver()


def connect4_optimal_moves(game: Any, state: Any) -> Tensor:
    """[B, 7] bool: the columns whose outcome (win > draw > loss) is the best available, for each
    non-terminal row of a connect4 State (all False on terminal rows)."""
    solver = connect4_solver()
    out = torch.zeros(state.player.shape[0], WIDTH, dtype=torch.bool)
    term = state.terminal.cpu().tolist()
    for i, p in enumerate(connect4_positions(state)):
        if term[i]:
            continue
        out[i] = torch.tensor([bool(v) for v in solver.optimal_columns(p)])
    return out.to(state.player.device)


# ---------------------------------------------------------------------------------------------
# Depth-limited minimax (the baseline player of AlphaZero.jl's Pons benchmark, depth 5).
_LINES_C4 = [
    [(r + i * dr, c + i * dc) for i in range(4)]
    for r in range(HEIGHT)
    for c in range(WIDTH)
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1))
    if 0 <= r + 3 * dr < HEIGHT and 0 <= c + 3 * dc < WIDTH
]
_LINE_BITS = [sum(1 << (c * H1 + (HEIGHT - 1 - r)) for r, c in line) for line in _LINES_C4]  # 69 lines


def _heuristic(cur: int, opp: int) -> float:
    """Sum over the 69 lines open to one side: +k^2 for k of the mover's stones, -k^2 for the
    opponent's (a line with stones of both sides counts nothing)."""
    v = 0
    for m in _LINE_BITS:
        a, b = _popcount(cur & m), _popcount(opp & m)
        if a and not b:
            v += a * a
        elif b and not a:
            v -= b * b
    return v / 100.0


def _minimax(cur: int, mask: int, n: int, depth: int, alpha: float, beta: float) -> float:
    """Negamax value for the player to move (wins = +/-1000 minus plies, heuristic at depth 0)."""
    poss = (mask + _BOTTOM) & _BOARD
    if _winning_cells(cur, mask) & poss:
        return 1000.0 - n
    if n >= WIDTH * HEIGHT:
        return 0.0
    if depth == 0:
        return _heuristic(cur, cur ^ mask)
    best = -math.inf
    for c in _ORDER:
        mv = poss & _COL[c]
        if not mv:
            continue
        v = -_minimax(cur ^ mask, mask | mv, n + 1, depth - 1, -beta, -alpha)
        if v > best:
            best = v
        alpha = max(alpha, v)
        if alpha >= beta:
            break
    return best


def minimax_connect4(p: C4Position, depth: int = 5) -> list[Optional[float]]:
    """Depth-limited negamax value of each column of p (None = full): `depth` plies including the
    move itself, then `_heuristic`. Exact wins within the horizon score 1000 minus plies."""
    out: list[Optional[float]] = []
    for c in range(WIDTH):
        if not p.can_play(c):
            out.append(None)
        elif p.is_winning_move(c):
            out.append(1000.0 - p.n)
        else:
            mv = (p.mask + _BOT[c]) & _COL[c]
            out.append(-_minimax(p.cur ^ p.mask, p.mask | mv, p.n + 1, depth - 1, -math.inf, math.inf))
    return out


@lru_cache(maxsize=1)
def tictactoe_solver() -> TicTacToeSolver:
    """A shared, lazily built TicTacToeSolver (about 0.1 s)."""
    return TicTacToeSolver()
