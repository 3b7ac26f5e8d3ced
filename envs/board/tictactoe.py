"""Tic-tac-toe: 3x3, three in a row. Action = row * 3 + col (same ids as OpenSpiel's tic_tac_toe)."""

from __future__ import annotations

from rlmeta.envs.board.core import KInARow


class TicTacToe(KInARow):
    name = "tictactoe"
    board_shape = (3, 3)
    num_actions = 9
    obs_shape = (2, 3, 3)
    k = 3
