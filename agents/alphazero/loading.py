"""Players from files: a checkpoint.pt of an AlphaZero run as a network, and the player spec strings
of `rlmeta arena` / `rlmeta play` (random, solver, mcts:N, minimax:D, az:CKPT:SIMS or a path)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from rlmeta.agents.alphazero.agent import AlphaZeroConfig, build_net
from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.players import MCTSPlayer, MinimaxPlayer, NetworkPlayer, Player, RandomPlayer, SolverPlayer
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.errors import ConfigError
from rlmeta.envs.board import make


def load_network(path: str | Path, device: str | torch.device = "cpu"):
    """checkpoint.pt of an alphazero run -> (net in eval mode, config, game name)."""
    ckpt = load_checkpoint(path, map_location=device)
    if ckpt.get("algo") not in ("alphazero", "alphago"):
        raise ConfigError(f"{path} is a {ckpt.get('algo')} checkpoint, not alphazero")
    cfg = AlphaZeroConfig.from_dict(ckpt["config"])
    game = make(cfg.env, 1, device)
    net = build_net(cfg, game).to(device)
    net.load_state_dict(ckpt["agent"]["net"])
    net.eval()
    return net, cfg, cfg.env


def parse_player(
    spec: str,
    game_name: str,
    device: str | torch.device = "cpu",
    default_sims: int = 0,
    search: Optional[str] = None,
    solver: Optional[bool] = None,
) -> Player:
    """Player from a spec string (see module docstring); a bare checkpoint path searches
    `default_sims` simulations per move (0 = greedy raw policy). `search` (puct / gumbel) and
    `solver` override, for checkpoints, the search the run was trained with."""
    if search not in (None, "puct", "gumbel"):
        raise ConfigError(f"search must be puct or gumbel, got {search!r}")
    if spec == "random":
        return RandomPlayer()
    if spec == "solver":
        return SolverPlayer(game_name)
    if spec.startswith("mcts:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"bad player '{spec}': expected mcts:N with an integer N") from None
        if n < 1:
            raise ConfigError(f"bad player '{spec}': N must be >= 1")
        return MCTSPlayer(n)
    if spec.startswith("minimax:"):
        if game_name != "connect4":
            raise ConfigError(f"minimax:D is a connect4 player, not {game_name}")
        d = spec.split(":", 1)[1]
        if not d.isdigit() or int(d) < 1:
            raise ConfigError(f"bad player '{spec}': expected minimax:D with an integer D >= 1")
        return MinimaxPlayer(int(d))
    sims = default_sims
    path = spec
    if spec.startswith("az:"):
        parts = spec[3:].rsplit(":", 1)
        if len(parts) == 2 and parts[1].isdigit():
            path, sims = parts[0], int(parts[1])
        else:
            path = spec[3:]
    if not Path(path).exists():
        raise ConfigError(
            f"unknown player '{spec}': not random, solver, mcts:N, minimax:D, az:CKPT:SIMS "
            "or an existing checkpoint path"
        )
    net, cfg, trained_on = load_network(path, device)
    if trained_on != game_name:
        raise ConfigError(f"{path} was trained on {trained_on}, not {game_name}")
    algo = search or cfg.search
    prove = cfg.solver if solver is None else solver
    scfg = SearchConfig(
        num_simulations=max(sims, 1),
        algorithm=algo,
        c_init=cfg.c_init,
        max_considered=cfg.max_considered,
        gumbel_scale=0.0,
        c_visit=cfg.c_visit,
        c_scale=cfg.c_scale,
        solver=prove,
    )
    name = f"az:{Path(path).name}:{sims}" + (f"({algo}{'+solver' if prove else ''})" if sims > 0 else "")
    return NetworkPlayer(make(game_name, 1, device), net, sims, scfg, name=name)
