"""SearchConfig: the hyperparameters of the batched MCTS, in a module of its own below the ones that
read them (selection.py, solver.py, search.py), so none of them imports another to see it. The
training run's config is AlphaZeroConfig in agent.py.

Example:
    >>> cfg = SearchConfig(num_simulations=128, algorithm="gumbel", max_considered=8)
    >>> cfg.validate()
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearchConfig:
    """Search hyperparameters (defaults: AlphaZero PUCT)."""

    num_simulations: int = 64
    """Simulations per move (each is one batched model call)."""
    algorithm: str = "puct"
    """puct (AlphaZero + Dirichlet noise), gumbel (Gumbel MuZero) or uct (UCB1 with c_uct, every
    legal child tried once first: classic MCTS, for pure random-rollout players)."""
    c_uct: float = 2.0
    """UCT exploration constant: Q + c_uct * sqrt(ln N(s) / N(s, a)) (OpenSpiel's default 2)."""
    c_init: float = 1.25
    """PUCT exploration constant c_init (AlphaZero pseudocode: pb_c_init)."""
    c_base: float = 19652.0
    """PUCT c_base: c(s) grows as log((N(s) + c_base + 1) / c_base) for huge searches."""
    dirichlet_alpha: float = 0.3
    """Dirichlet noise concentration at the root (puct only; ~10 / typical number of legal moves)."""
    dirichlet_fraction: float = 0.0
    """Weight of the root Dirichlet noise (0 = none, 0.25 for AlphaZero self-play)."""
    max_considered: int = 16
    """Gumbel: m, root actions sampled by Gumbel-top-k and then halved."""
    gumbel_scale: float = 1.0
    """Gumbel: scale of the root Gumbel noise (0 = deterministic, for evaluation)."""
    c_visit: float = 50.0
    """Gumbel sigma(q) = (c_visit + max N) * c_scale * q (mctx maxvisit_init)."""
    c_scale: float = 0.1
    """Gumbel sigma(q) scale (mctx value_scale)."""
    rollout_weight: float = 0.0
    """lambda in V = (1 - lambda) v_net + lambda z_rollout (AlphaGo); 1 = pure rollouts."""
    max_rollout_moves: int = 512
    """Safety cap on moves in one rollout."""
    solver: bool = False
    """MCTS-Solver: back up proven wins/losses and never play a proven loss when a move is not
    one (see solver.py); off = plain AlphaZero / Gumbel MuZero search."""

    def validate(self) -> None:
        from rlmeta.core.errors import ConfigError

        if self.num_simulations < 1:
            raise ConfigError(f"num_simulations must be >= 1, got {self.num_simulations}")
        if self.algorithm not in ("puct", "gumbel", "uct"):
            raise ConfigError(f"search algorithm must be puct, gumbel or uct, got {self.algorithm!r}")
        if not 0.0 <= self.rollout_weight <= 1.0:
            raise ConfigError(f"rollout_weight must be in [0, 1], got {self.rollout_weight}")
        if not 0.0 <= self.dirichlet_fraction <= 1.0:
            raise ConfigError(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if self.max_considered < 1:
            raise ConfigError(f"max_considered must be >= 1, got {self.max_considered}")
