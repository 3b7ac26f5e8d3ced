"""Tutorial: add a board game and train AlphaZero on it (docs/tutorials/board-game.md).

A game is a `BoardGame` subclass that steps a whole batch of positions with torch ops. The
k-in-a-row family (tic-tac-toe, Connect Four, Gomoku) is one class, `KInARow`, with the board
shape, the line length k and gravity as class attributes, so a new member is a few lines; a game
with other rules implements `_step` and `legal_mask` (see rlmeta.envs.board.othello for one).
Registered in `rlmeta.envs.board.GAMES` under a name, it is an `--env` of AlphaZero and a game of
the arena.

    python examples/board_game.py                                   # 30k self-play moves, then the arena
    python examples/board_game.py --total-steps 2048 --arena-games 8 --run-dir runs/az-demo   # seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlmeta.agents.alphazero.agent import AlphaZeroConfig
from rlmeta.agents.alphazero.players import RandomPlayer, arena
from rlmeta.app.runner import build_agent, train
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.envs.board import GAMES
from rlmeta.envs.board.core import KInARow


class ThreeOnFour(KInARow):
    """Tic-tac-toe on a 4x4 board: three in a row (row, column or diagonal) wins. Action = row * 4 + col."""

    name = "three-on-four"
    board_shape = (4, 4)
    num_actions = 16
    obs_shape = (2, 4, 4)  # planes: the stones of the player to move, the opponent's
    k = 3


# "module:Class", imported when a game is made: here this module (__main__ when run as a script)
GAMES[ThreeOnFour.name] = f"{__name__}:ThreeOnFour"


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--total-steps", type=int, default=30_000, help="self-play moves, summed over the games")
    p.add_argument("--simulations", type=int, default=16, help="search simulations per self-play move")
    p.add_argument("--arena-games", type=int, default=100)
    p.add_argument("--run-dir", default="runs/az-three-on-four")
    a = p.parse_args(argv)
    # the tictactoe preset's search and network, sized for this board
    cfg = AlphaZeroConfig(
        env=ThreeOnFour.name,
        total_steps=a.total_steps,
        num_envs=64,
        num_simulations=a.simulations,
        max_considered=min(a.simulations, 16),
        min_replay=256,
        batch_size=128,
        replay_size=10_000,
        checkpoint_every=10_000,
        run_dir=a.run_dir,
        progress=False,
    )
    run_dir = train("alphazero", cfg)

    # reload the checkpoint and play it (a 16-simulation search) against a random player, both seats
    agent = build_agent("alphazero", cfg.replace(run_dir=None))
    agent.load_state_dict(load_checkpoint(run_dir / "checkpoint.pt")["agent"])
    res = arena(ThreeOnFour.name, agent.player(num_simulations=16), RandomPlayer(), a.arena_games)
    print(res.table())
    return run_dir


if __name__ == "__main__":
    main()
