"""Exact evaluation of board-game players.

- tic-tac-toe: share of optimal moves over ALL reachable non-terminal positions (4520 of the 5478
  reachable positions; exact minimax from envs/board/solvers.py), and results against a perfect
  player from both seats.
- Connect Four: mistake rate on Pascal Pons' six test sets (benchmarks/reference/connect4): the
  share of positions where the move leads to a strictly worse game-theoretic outcome (win > draw >
  loss) than the best move. Which moves are optimal comes from a labels file written once by the
  exact solver (benchmarks/alphazero_pons_labels.py), or from the solver itself when none exists.

Example:
    >>> ev = TicTacToeEvaluator()
    >>> ev.optimal_share(RandomPlayer())["share"]          # about 0.6
    >>> connect4_mistake_rates(RandomPlayer(), "benchmarks/reference/connect4", limit=100)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch

from rlmeta.agents.alphazero.players import SolverPlayer, play_games
from rlmeta.core.errors import ConfigError
from rlmeta.envs.board import make
from rlmeta.envs.board.solvers import tictactoe_solver


class TicTacToeEvaluator:
    """All reachable non-terminal tic-tac-toe positions as one batch, with their optimal moves."""

    def __init__(self, device: str | torch.device = "cpu"):
        solver = tictactoe_solver()
        cells = [c for c, (_, moves) in solver.table.items() if moves]  # non-terminal
        self.game = make("tictactoe", len(cells), device)
        boards = torch.tensor(cells, dtype=torch.int8).view(-1, 3, 3)
        self.states = self.game.from_boards(boards)
        self.optimal = solver.optimal_mask(boards).to(device)  # [P, 9]
        self.values = solver.value(boards).to(device)  # [P] for the player to move

    @torch.no_grad()
    def optimal_share(self, player: Any) -> dict[str, float]:
        """Share of positions where `player` (game, state -> actions) plays an optimal move; also
        split by side to move and by the position's value (winning positions need the win)."""
        a = player(self.game, self.states).long()
        ok = self.optimal.gather(1, a[:, None]).squeeze(1).float()
        out = {
            "share": ok.mean().item(),
            "positions": float(ok.numel()),
            "share_x": ok[self.states.player == 0].mean().item(),
            "share_o": ok[self.states.player == 1].mean().item(),
        }
        for v, name in ((1, "winning"), (0, "drawn"), (-1, "lost")):
            m = self.values == v
            if bool(m.any()):
                out[f"share_{name}"] = ok[m].mean().item()
        return out

    @torch.no_grad()
    def vs_perfect(self, player: Any, games_per_seat: int = 100) -> dict[str, tuple[int, int, int]]:
        """W/D/L of `player` against a perfect player that picks uniformly among optimal moves."""
        perfect = SolverPlayer("tictactoe", randomize=True)
        game = make("tictactoe", 1, self.states.player.device)
        out = {}
        for seat, (p0, p1), me in (("first", (player, perfect), 0), ("second", (perfect, player), 1)):
            w = play_games(game, p0, p1, games_per_seat)
            out[seat] = (int((w == me).sum()), int((w < 0).sum()), int((w == 1 - me).sum()))
        return out


# ---------------------------------------------------------------------- Connect Four (Pons)
# file -> name, in the order AlphaZero.jl reports them
PONS_SETS = {
    "Test_L3_R1": "End-Easy",
    "Test_L2_R1": "Middle-Easy",
    "Test_L2_R2": "Middle-Medium",
    "Test_L1_R1": "Begin-Easy",
    "Test_L1_R2": "Begin-Medium",
    "Test_L1_R3": "Begin-Hard",
}
LABELS_DIR = "labels"  # <test dir>/labels/<file>: `moves score labels` per line


class PonsSet(NamedTuple):
    name: str  # e.g. Begin-Hard
    moves: list[str]  # Pons move strings (1-indexed columns)
    scores: list[int]  # exact score for the player to move
    optimal: torch.Tensor  # [n, 7] bool: moves that keep the best outcome


def read_pons(path: str | Path, limit: Optional[int] = None) -> tuple[list[str], list[int]]:
    """The first `limit` lines of a Pons test file -> (move strings, scores)."""
    moves, scores = [], []
    for ln in Path(path).read_text().splitlines():
        if not ln.strip():
            continue
        m, sc = ln.split()[:2]
        moves.append(m)
        scores.append(int(sc))
        if limit is not None and len(moves) >= limit:
            break
    return moves, scores


def solve_labels(moves: list[str], scores: list[int], progress: bool = False) -> list[str]:
    """Optimal-move labels of each position with the exact solver: a string of 7 characters,
    '1' optimal, '0' a mistake, '.' a full column."""
    from rlmeta.envs.board.solvers import C4Position, connect4_solver

    solver = connect4_solver()
    out = []
    it = zip(moves, scores)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(moves), desc="solving")
    for m, sc in it:
        cols = solver.optimal_columns(C4Position.from_moves(m), (sc > 0) - (sc < 0))
        out.append("".join("." if v is None else "1" if v else "0" for v in cols))
    return out


def load_pons_set(path: str | Path, limit: Optional[int] = None) -> PonsSet:
    """A Pons test set with optimal-move labels: from `<dir>/labels/<file>` for the lines it covers
    (its positions are checked against the test file), from the solver for the rest."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no Pons test set at {path}")
    moves, scores = read_pons(path, limit)
    labels: list[str] = []
    lab = path.parent / LABELS_DIR / path.name
    if lab.exists():
        rows = [ln.split() for ln in lab.read_text().splitlines() if len(ln.split()) == 3][: len(moves)]
        if any(r[0] != m or int(r[1]) != s for r, m, s in zip(rows, moves, scores)):
            raise ConfigError(f"{lab} does not match {path} (regenerate it with benchmarks/alphazero_pons_labels.py)")
        labels = [r[2] for r in rows]
    if len(labels) < len(moves):  # lines the labels file does not cover: solve them now
        import sys

        print(
            f"rlmeta: solving {len(moves) - len(labels)} positions of {path.name} that {lab} does not cover "
            "(Begin-Hard positions take seconds each)",
            file=sys.stderr,
        )
        labels += solve_labels(moves[len(labels) :], scores[len(labels) :])
    optimal = torch.tensor([[ch == "1" for ch in lb] for lb in labels], dtype=torch.bool).view(-1, 7)
    return PonsSet(PONS_SETS.get(path.name, path.name), moves, scores, optimal)


@torch.no_grad()
def mistake_rate(player: Any, data: PonsSet, device: str | torch.device = "cpu", batch: int = 1000) -> float:
    """Share of positions of `data` where `player` (game, state -> actions) plays a non-optimal move."""
    game = make("connect4", 1, device)
    wrong = 0
    for i in range(0, len(data.moves), batch):
        s = game.from_moves(data.moves[i : i + batch])
        a = player(game, s).long().cpu()
        wrong += int((~data.optimal[i : i + batch].gather(1, a[:, None])).sum())
    return wrong / max(len(data.moves), 1)


def connect4_mistake_rates(
    player: Any, test_dir: str | Path, limit: Optional[int] = None, device: str | torch.device = "cpu"
) -> dict[str, dict[str, float]]:
    """{set name: {"mistake_rate", "positions"}} over the six Pons sets found in test_dir."""
    test_dir = Path(test_dir)
    files = [test_dir / f for f in PONS_SETS if (test_dir / f).exists()]
    if not files:
        raise ConfigError(f"no Pons test sets ({', '.join(PONS_SETS)}) in {test_dir}")
    out = {}
    for f in files:
        data = load_pons_set(f, limit)
        out[data.name] = {"mistake_rate": mistake_rate(player, data, device), "positions": float(len(data.moves))}
    return out
