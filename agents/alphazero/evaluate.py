"""Exact evaluation of board-game players.

- tic-tac-toe: share of optimal moves over ALL reachable non-terminal positions (4520 of the 5478
  reachable positions; exact minimax from envs/board/solvers.py), and results against a perfect
  player from both seats.
- Connect Four: mistake rate on Pascal Pons' test sets (envs/board/pons.py).

Example:
    >>> ev = TicTacToeEvaluator()
    >>> ev.optimal_share(RandomPlayer())["share"]          # about 0.6
"""

from __future__ import annotations

from typing import Any

import torch

from envs.board import make
from envs.board.solvers import tictactoe_solver


def tictactoe_optimal_actions(game: Any, state: Any) -> torch.Tensor:
    """[B, 9] bool: the minimax-optimal moves in each position of `state`."""
    return tictactoe_solver().optimal_mask(state.board.cpu()).to(state.board.device)


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
        out = {"share": ok.mean().item(), "positions": float(ok.numel()),
               "share_x": ok[self.states.player == 0].mean().item(),
               "share_o": ok[self.states.player == 1].mean().item()}
        for v, name in ((1, "winning"), (0, "drawn"), (-1, "lost")):
            m = self.values == v
            if bool(m.any()):
                out[f"share_{name}"] = ok[m].mean().item()
        return out

    @torch.no_grad()
    def vs_perfect(self, player: Any, games_per_seat: int = 100) -> dict[str, tuple[int, int, int]]:
        """W/D/L of `player` against a perfect player that picks uniformly among optimal moves."""
        from agents.alphazero.players import SolverPlayer, play_games

        perfect = SolverPlayer("tictactoe", randomize=True)
        game = make("tictactoe", 1, self.states.player.device)
        out = {}
        for seat, (p0, p1), me in (("first", (player, perfect), 0), ("second", (perfect, player), 1)):
            w = play_games(game, p0, p1, games_per_seat)
            out[seat] = (int((w == me).sum()), int((w < 0).sum()), int((w == 1 - me).sum()))
        return out


def connect4_mistake_rates(player: Any, test_dir: str, limit: int | None = None,
                           device: str | torch.device = "cpu") -> dict[str, float]:
    """Mistake rate (share of positions where the move is not optimal) on each Pons test set."""
    from envs.board import pons

    return pons.evaluate_all(player, test_dir, limit=limit, device=device) if hasattr(pons, "evaluate_all") \
        else _pons_fallback(player, test_dir, limit, device)


def _pons_fallback(player: Any, test_dir: str, limit: int | None, device) -> dict[str, float]:
    from pathlib import Path

    from envs.board import pons

    game = make("connect4", 1, device)
    out = {}
    files = sorted(Path(test_dir).glob("Test_L*_R*"))
    if not files:
        from rlmeta.errors import ConfigError

        raise ConfigError(f"no Pons test sets (Test_L?_R?) in {test_dir}")

    def policy_fn(states):
        return player(game, states)

    for f in files:
        out[f.name] = pons.mistake_rate(policy_fn, str(f), limit=limit)
    return out
