"""Players (State batch -> actions) and the arena: win/draw/loss per seat and an Elo estimate.

Player specs (the `rlmeta arena` arguments):
    random          uniform over legal moves
    mcts:N          pure MCTS: UCT with N random-rollout simulations per move
    solver          exact play where a solver exists (tictactoe minimax, connect4 alpha-beta; on
                    connect4 early positions take the C solver seconds to minutes each)
    minimax:D       connect4 only: depth-D alpha-beta with a line-counting heuristic
    az:CKPT:SIMS    an AlphaZero checkpoint searching SIMS simulations (0 = raw network policy)
    CKPT            a path to a checkpoint.pt: az:CKPT:<default_sims>

A checkpoint searches with the algorithm it was trained with (puct or gumbel) and without MCTS-Solver
unless `parse_player(..., search=, solver=)` say otherwise (the CLI's --search and --solver).

Example:
    >>> res = arena("tictactoe", parse_player("mcts:200", "tictactoe"), parse_player("random", "tictactoe"), 100)
    >>> res.score, res.elo, res.elo_ci
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.network import model_fn
from rlmeta.agents.alphazero.search import search, uniform_model
from rlmeta.core.errors import ConfigError
from rlmeta.envs.board.core import random_legal_action, where_state
from rlmeta.envs.board.solvers import tictactoe_solver


class Player:
    """Callable: state [B] (all non-terminal) -> actions [B]. Must not depend on row order."""

    name = "player"

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        raise NotImplementedError


class RandomPlayer(Player):
    name = "random"

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        legal = game.legal_mask(state)
        return random_legal_action(legal)


class MCTSPlayer(Player):
    """Classic MCTS: UCT (c=2, as OpenSpiel's MCTSBot) with uniform random rollouts."""

    def __init__(self, num_simulations: int, c_uct: float = 2.0):
        self.cfg = SearchConfig(num_simulations=num_simulations, algorithm="uct", c_uct=c_uct, rollout_weight=1.0)
        self.name = f"mcts:{num_simulations}"

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        return search(game, state, uniform_model, self.cfg).action


class SearchPlayer(Player):
    """Any model function with any search config (greedy move)."""

    def __init__(self, model: Callable, cfg: SearchConfig, name: str = "search", rollout_policy=None):
        self.model, self.cfg, self.name, self.rollout_policy = model, cfg, name, rollout_policy

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        return search(game, state, self.model, self.cfg, rollout_policy=self.rollout_policy).action


class NetworkPlayer(Player):
    """A policy-value network: greedy raw policy (num_simulations=0) or greedy after a search."""

    def __init__(
        self,
        game: Any,
        net: torch.nn.Module,
        num_simulations: int = 0,
        cfg: Optional[SearchConfig] = None,
        name: str = "az",
    ):
        self.net, self.num_simulations, self.name = net, num_simulations, name
        self.cfg = cfg or SearchConfig(num_simulations=max(num_simulations, 1), algorithm="gumbel", gumbel_scale=0.0)
        self.model = model_fn(net)

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        legal = game.legal_mask(state)
        if self.num_simulations <= 0:
            logits, _ = self.model(game.observation(state), legal)
            return torch.where(legal, logits, -math.inf).argmax(1)
        return search(game, state, self.model, self.cfg).action


class SolverPlayer(Player):
    """Exact play: among the optimal moves, the first (deterministic) or a random one."""

    def __init__(self, game_name: str, randomize: bool = False):
        self.name = "solver"
        self.randomize = randomize
        if game_name == "tictactoe":
            self.optimal = tictactoe_optimal_actions
        elif game_name == "connect4":
            self.optimal = _connect4_optimal_actions
        else:
            raise ConfigError(f"no solver for {game_name} (solvers: tictactoe, connect4)")

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        best = self.optimal(game, state)  # [B, A] bool
        if self.randomize:
            return (torch.rand(best.shape, device=best.device) * best).argmax(1)
        return best.float().argmax(1)


class MinimaxPlayer(Player):
    """Connect Four depth-limited alpha-beta (envs/board/solvers.minimax_connect4); ties between
    equally valued columns go to the most central one."""

    def __init__(self, depth: int):
        self.depth = depth
        self.name = f"minimax:{depth}"

    def __call__(self, game: Any, state: Any) -> torch.Tensor:
        from rlmeta.envs.board.solvers import connect4_positions, minimax_connect4

        out = []
        for p in connect4_positions(state):
            vals = minimax_connect4(p, self.depth)
            best = max(v for v in vals if v is not None)
            out.append(min((c for c, v in enumerate(vals) if v == best), key=lambda c: abs(c - 3)))
        return torch.tensor(out, dtype=torch.long, device=state.player.device)


def tictactoe_optimal_actions(game: Any, state: Any) -> torch.Tensor:
    """[B, 9] bool: the minimax-optimal moves in each position of `state`."""
    return tictactoe_solver().optimal_mask(state.board.cpu()).to(state.board.device)


def _connect4_optimal_actions(game: Any, state: Any) -> torch.Tensor:
    """[B, A] bool: moves with the best exact score (envs/board/solvers.py alpha-beta)."""
    try:
        from rlmeta.envs.board import solvers
    except ImportError as e:
        raise ConfigError(f"connect4 solver not available: {e}") from None
    return solvers.connect4_optimal_moves(game, state)


# ---------------------------------------------------------------------- playing games
@torch.no_grad()
def play_games(game: Any, first: Player, second: Player, num_games: int, start: Any = None) -> torch.Tensor:
    """Play num_games in parallel, `first` moving for player 0. Returns winner [num_games] (-1 draw)."""
    s = game.reset(num_games) if start is None else start
    players = (first, second)
    while not bool(s.terminal.all()):
        action = torch.zeros(s.player.shape[0], dtype=torch.long, device=s.player.device)
        for p in (0, 1):
            rows = (~s.terminal & (s.player == p)).nonzero().squeeze(1)
            if rows.numel():
                action[rows] = players[p](game, game.index(s, rows)).long()
        s = where_state(s.terminal, s, game.step(s, action))
    return s.winner


@dataclass
class ArenaResult:
    a: str
    b: str
    wins: int  # A's wins, all seats
    draws: int
    losses: int
    per_seat: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # "A first" -> (W, D, L) for A

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / max(self.games, 1)

    @property
    def elo(self) -> float:
        return elo_from_score(self.score)

    @property
    def score_ci(self) -> tuple[float, float]:
        """95% interval of the score from the normal approximation of the mean game score (W=1, D=1/2,
        L=0). When one side won every game that interval has zero width (4-0 would "prove" an
        infinite Elo gap), so the other end is the exact binomial bound instead: the score p at
        which n straight wins have probability 2.5% (p^n = 0.025; 0.40 after 4 games)."""
        n, s = self.games, self.score
        if n and self.wins == n:
            return 0.025 ** (1 / n), 1.0
        if n and self.losses == n:
            return 0.0, 1.0 - 0.025 ** (1 / n)
        var = (self.wins * (1 - s) ** 2 + self.draws * (0.5 - s) ** 2 + self.losses * s**2) / max(n, 1)
        half = 1.96 * math.sqrt(var / max(n, 1))
        return s - half, s + half

    @property
    def elo_ci(self) -> tuple[float, float]:
        """95% interval of the Elo difference: score_ci mapped through elo_from_score."""
        lo, hi = self.score_ci
        return elo_from_score(lo), elo_from_score(hi)

    def table(self) -> str:
        lines = [f"{self.a} vs {self.b}: {self.games} games", f"{'seat of A':<12}{'W':>6}{'D':>6}{'L':>6}"]
        for seat, (w, d, l) in self.per_seat.items():
            lines.append(f"{seat:<12}{w:>6}{d:>6}{l:>6}")
        lines.append(f"{'total':<12}{self.wins:>6}{self.draws:>6}{self.losses:>6}")
        lines.append(
            f"score {self.score:.3f}  Elo(A) - Elo(B) = {format_elo(self.elo)}  95% CI {format_elo_ci(*self.elo_ci)}"
        )
        return "\n".join(lines)


def format_elo(x: float) -> str:
    return f"{x:+.0f}" if math.isfinite(x) else ("+inf" if x > 0 else "-inf")


def format_elo_ci(lo: float, hi: float) -> str:
    """'[-72, +35]', or a one-sided bound when the interval is unbounded on one side (one player
    scored every point, or nearly)."""
    if math.isinf(hi) and math.isfinite(lo):
        return f">= {format_elo(lo)} (unbounded above)"
    if math.isinf(lo) and math.isfinite(hi):
        return f"<= {format_elo(hi)} (unbounded below)"
    return f"[{format_elo(lo)}, {format_elo(hi)}]"


def elo_from_score(s: float) -> float:
    """Elo difference whose expected score is s: -400 log10(1/s - 1) (+-inf at 1 / 0)."""
    if s >= 1.0:
        return math.inf
    if s <= 0.0:
        return -math.inf
    return -400.0 * math.log10(1.0 / s - 1.0) + 0.0  # + 0.0: no "-0"


def arena(game_name: str, a: Player, b: Player, num_games: int, device: str | torch.device = "cpu") -> ArenaResult:
    """num_games between a and b, half with a moving first (seats alternate)."""
    from rlmeta.envs.board import make

    game = make(game_name, 1, device)
    n1 = (num_games + 1) // 2
    n2 = num_games - n1
    res = ArenaResult(a.name, b.name, 0, 0, 0)
    for seat, n, (p0, p1) in (("first", n1, (a, b)), ("second", n2, (b, a))):
        if n == 0:
            continue
        winner = play_games(game, p0, p1, n)
        a_id = 0 if seat == "first" else 1
        w = int((winner == a_id).sum())
        d = int((winner < 0).sum())
        l = n - w - d
        res.per_seat[seat] = (w, d, l)
        res.wins, res.draws, res.losses = res.wins + w, res.draws + d, res.losses + l
    return res
