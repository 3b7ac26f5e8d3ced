"""Batched two-player board games as torch tensors.

Every game keeps a batch of positions in a `State` of [B, ...] tensors and steps all rows with
torch ops (no Python loop over the batch), on CPU or CUDA. Search/learning code uses only the
`BoardGame` interface:

    >>> import torch
    >>> from rlmeta.envs.board import make
    >>> game = make("connect4", batch_size=4)
    >>> s = game.reset()
    >>> s = game.step(s, torch.tensor([3, 3, 0, 6]))    # one column per row
    >>> game.legal_mask(s).shape, game.observation(s).shape
    (torch.Size([4, 7]), torch.Size([4, 2, 6, 7]))

Games: tictactoe (A=9), connect4 (A=7), othello (A=65, 64 = pass), gomoku (A=225),
go9 (A=82, 81 = pass; vs OpenSpiel in tests/test_board_go.py).
Rules are checked move by move against OpenSpiel in tests/test_board_openspiel.py.
"""

from __future__ import annotations

import difflib

import torch

from rlmeta.envs.board.core import BoardGame, State, cat_states, random_legal_action, where_state

GAMES: dict[str, str] = {
    "tictactoe": "rlmeta.envs.board.tictactoe:TicTacToe",
    "connect4": "rlmeta.envs.board.connect4:ConnectFour",
    "othello": "rlmeta.envs.board.othello:Othello",
    "gomoku": "rlmeta.envs.board.gomoku:Gomoku",
    "go9": "rlmeta.envs.board.go:Go9",
}


def game_class(name: str) -> type[BoardGame]:
    import importlib

    if name not in GAMES:
        close = difflib.get_close_matches(name, list(GAMES), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown board game '{name}'{hint}; choose from {', '.join(GAMES)}")
    mod, cls = GAMES[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def make(name: str, batch_size: int = 1, device: str | torch.device = "cpu", check: bool = True) -> BoardGame:
    """Build a game by name: `make("othello", 256, "cuda")`. `step` raises on an illegal action
    unless check=False (for callers that pass only legal actions; see envs/board/core.py)."""
    return game_class(name)(batch_size, device, check=check)


__all__ = ["GAMES", "BoardGame", "State", "cat_states", "game_class", "make", "random_legal_action", "where_state"]
