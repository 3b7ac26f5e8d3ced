"""Gomoku (freestyle): 15x15, five OR MORE in a row wins, as OpenSpiel's `gomoku` (default
parameters size=15, connect=5, anti=False, wrap=False: it counts a line as soon as it reaches
`connect` stones, so overlines win). Full board without a line: draw. Action = row * 15 + col."""

from __future__ import annotations

from rlmeta.envs.board.core import KInARow


class Gomoku(KInARow):
    name = "gomoku"
    board_shape = (15, 15)
    num_actions = 225
    obs_shape = (2, 15, 15)
    k = 5
