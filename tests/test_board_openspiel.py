"""Rules checked against OpenSpiel: random games played in lockstep (batched on our side, one
pyspiel state per row), asserting at every ply the same legal action set, player to move,
terminal flag and returns, and the same stones on the board.

Action ids map one to one (OpenSpiel uses the same numbering):
  tic_tac_toe  row*3+col                      <-> tictactoe
  connect_four column 0..6                    <-> connect4
  othello      row*8+col (row 0 = rank 1), 64 = pass <-> othello
  gomoku       row*15+col                     <-> gomoku
Board mapping: OpenSpiel's observation planes give each player's stones; Connect Four's planes
are stored bottom row first, ours top row first.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlmeta.envs.board import make

pyspiel = pytest.importorskip("pyspiel")


def _os_board(game_name: str, st, shape) -> np.ndarray:
    """OpenSpiel state -> our board convention (+1 player 0, -1 player 1, row 0 on top)."""
    h, w = shape
    obs = np.asarray(st.observation_tensor(0), dtype=np.float32)
    if game_name == "tic_tac_toe":  # planes: empty, o (player 1), x (player 0)
        p = obs.reshape(3, h, w)
        b = p[2] - p[1]
    elif game_name == "connect_four":  # planes: x, o, empty; row 0 = bottom
        p = obs.reshape(3, h, w)
        b = (p[0] - p[1])[::-1]
    elif game_name == "othello":  # planes: empty, black (x, player 0), white (o, player 1)
        p = obs.reshape(3, h, w)
        b = p[1] - p[2]
    elif game_name == "gomoku":  # planes: black, white, black-to-move
        p = obs.reshape(3, h, w)
        b = p[0] - p[1]
    else:
        raise KeyError(game_name)
    return b.astype(np.int8)


def lockstep(ours: str, theirs: str, n_games: int, seed: int = 0, params: dict | None = None) -> int:
    """Play n_games random games in lockstep; returns the number of plies compared."""
    game = make(ours, n_games, check=True)
    og = pyspiel.load_game(theirs, params or {})
    sts = [og.new_initial_state() for _ in range(n_games)]
    s = game.reset()
    rng = np.random.default_rng(seed)
    compared = 0
    for _ in range(2 * game.board_shape[0] * game.board_shape[1] + 2):
        legal = game.legal_mask(s).numpy()
        rew = game.rewards(s).numpy()
        actions = np.zeros(n_games, dtype=np.int64)
        for i, st in enumerate(sts):
            assert bool(s.terminal[i]) == st.is_terminal(), (i, str(st))
            if st.is_terminal():
                np.testing.assert_array_equal(rew[i], np.asarray(st.returns(), np.float32), err_msg=str(st))
                assert not legal[i].any()
            else:
                assert int(s.player[i]) == st.current_player()
                assert np.flatnonzero(legal[i]).tolist() == sorted(st.legal_actions()), str(st)
                assert (rew[i] == 0).all()
                actions[i] = rng.choice(st.legal_actions())
                st.apply_action(int(actions[i]))
            compared += 1
        if all(st.is_terminal() for st in sts):
            break
        s = game.step(s, torch.from_numpy(actions))
        b2 = s.board.numpy()
        for i, st in enumerate(sts):
            np.testing.assert_array_equal(b2[i], _os_board(theirs, st, game.board_shape), err_msg=str(st))
    assert all(st.is_terminal() for st in sts)
    return compared


@pytest.mark.parametrize(
    "ours,theirs,n",
    [
        ("tictactoe", "tic_tac_toe", 300),
        ("connect4", "connect_four", 300),
        ("othello", "othello", 200),
        ("gomoku", "gomoku", 40),
    ],
)
def test_lockstep_random_games(ours, theirs, n):
    if theirs not in pyspiel.registered_names():
        pytest.skip(f"OpenSpiel has no {theirs}")
    assert lockstep(ours, theirs, n) > n * 5
