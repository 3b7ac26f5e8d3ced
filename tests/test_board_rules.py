"""Board-game rules on hand-made positions: win detection, draws, legal masks, passes, symmetries.
(tests/test_board_openspiel.py checks the same rules against OpenSpiel on random games.)"""

from __future__ import annotations

import pytest
import torch

from rlmeta.envs.board import make
from rlmeta.envs.board.core import dihedral

torch.set_num_threads(1)


def _board(rows: list[str]) -> torch.Tensor:
    """['X.O', ...] -> [H, W] int8 (+1 X / player 0, -1 O / player 1)."""
    v = {".": 0, "X": 1, "O": -1}
    return torch.tensor([[v[c] for c in r] for r in rows], dtype=torch.int8)


TTT_LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


@pytest.mark.parametrize("line", TTT_LINES)
def test_tictactoe_each_line_wins(line):
    g = make("tictactoe", 1)
    cells = torch.zeros(9, dtype=torch.int8)
    cells[list(line[:2])] = 1  # X holds two cells of the line
    cells[[c for c in range(9) if c not in line][:2]] = -1  # O's two stones off the line
    s = g.from_boards(cells.view(1, 3, 3))  # X to move (2 stones each)
    assert int(s.player) == 0
    s = g.step(s, torch.tensor([line[2]]))
    assert bool(s.terminal) and int(s.winner) == 0
    assert g.rewards(s).tolist() == [[1.0, -1.0]]
    assert not g.legal_mask(s).any()  # finished games have no legal move


def test_tictactoe_draw_and_frozen_terminal():
    g = make("tictactoe", 1)
    s = g.from_boards(_board(["XOX", "XOO", "OX."]).view(1, 3, 3))  # X to move, last cell, no line
    assert g.legal_mask(s).tolist() == [[False] * 8 + [True]]
    s = g.step(s, torch.tensor([8]))
    assert bool(s.terminal) and int(s.winner) == -1 and g.rewards(s).tolist() == [[0.0, 0.0]]
    s2 = g.step(s, torch.tensor([0]))  # a terminal row ignores any action
    assert torch.equal(s2.board, s.board) and int(s2.moves) == int(s.moves)


def test_tictactoe_illegal_move_rejected_with_check():
    g = make("tictactoe", 2, check=True)
    s = g.step(g.reset(), torch.tensor([4, 0]))
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([1, 0]))  # row 1: cell 0 is taken


C4_CASES = [
    # (board rows top..bottom, player to move, column to play, wins?)
    ([".......", ".......", ".......", ".......", ".......", "XXX.OOO"], 0, 3, True),  # horizontal
    ([".......", ".......", ".......", "X......", "X.....O", "X....OO"], 0, 0, True),  # vertical
    ([".......", ".......", ".......", "..XO...", ".XOO...", "XOXOX.."], 0, 3, True),  # diagonal /
    ([".......", ".......", ".......", "...OX..", "...OOX.", "..XOXOO"], 0, 3, False),  # only three on \
    ([".......", ".......", ".......", "...OX..", "...XOX.", "..XOXOX"], 1, 3, False),
    ([".......", ".......", "O......", "XO.....", "XXO....", "XXX.OO."], 1, 3, True),  # diagonal \ (O)
]


@pytest.mark.parametrize("rows,player,col,wins", C4_CASES)
def test_connect4_win_detection(rows, player, col, wins):
    g = make("connect4", 1)
    s = g.from_boards(_board(rows).view(1, 6, 7), player)
    s = g.step(s, torch.tensor([col]))
    assert bool(s.terminal) == wins
    assert int(s.winner) == (player if wins else -1)


def test_connect4_gravity_full_column_and_horizontal_wrap():
    g = make("connect4", 1)
    s = g.reset()
    for _ in range(6):
        s = g.step(s, torch.tensor([2]))
    assert g.legal_mask(s).tolist() == [[True, True, False, True, True, True, True]]
    assert g.observation(s)[0].sum().item() == 6  # all six stones, both planes
    # stones on the right edge of one row and the left edge of the next never make a line
    b = _board([".......", ".......", ".......", ".......", "XX.....", "OOO.XXX"])
    s = g.from_boards(b.view(1, 6, 7), 0)
    s = g.step(s, torch.tensor([0]))  # X on top of column 0: X at the left of row 3 and right of row 4
    assert not bool(s.terminal)


def test_connect4_from_moves_matches_steps():
    g = make("connect4", 2)
    s = g.from_moves(["4453", "1"])
    assert s.moves.tolist() == [4, 1] and s.player.tolist() == [0, 1]
    assert s.board[0, 5].tolist() == [0, 0, -1, 1, 1, 0, 0] and s.board[0, 4, 3].item() == -1
    assert s.board[1, 5, 0].item() == 1


def test_gomoku_five_and_overline_win_four_does_not():
    g = make("gomoku", 3)
    b = torch.zeros(3, 15, 15, dtype=torch.int8)
    b[0, 7, 3:7] = 1  # four in a row; playing (7, 7) makes five
    b[1, 7, 3:6] = 1
    b[1, 7, 7] = 1  # X X X . X: filling the gap makes five
    b[1, 7, 8] = 1  # ... and six with this one: overlines win in freestyle gomoku
    b[2, 7, 4:7] = 1  # three; (7, 7) makes only four
    b[:, 0, :5] = -1  # O stones elsewhere (balanced counts do not matter here)
    b[:, 1, 0] = -1
    s = g.from_boards(b, 0)
    s = g.step(s, torch.tensor([7 * 15 + 7, 7 * 15 + 6, 7 * 15 + 7]))
    assert s.terminal.tolist() == [True, True, False]
    assert s.winner.tolist() == [0, 0, -1]


def test_gomoku_no_wrap_across_rows():
    g = make("gomoku", 1)
    b = torch.zeros(1, 15, 15, dtype=torch.int8)
    b[0, 3, 12:15] = 1  # three at the right edge of row 3
    b[0, 4, 0] = 1  # one at the left edge of row 4: flat cells 57..60 contiguous
    b[0, 10, :4] = -1
    s = g.step(g.from_boards(b, 0), torch.tensor([4 * 15 + 1]))
    assert not bool(s.terminal)


def test_othello_opening_moves_and_flip():
    g = make("othello", 1)
    s = g.reset()
    # Black (X) opens: d3, c4, f5, e6 in OpenSpiel's notation = (row 2, col 3), (3, 2), (4, 5), (5, 4)
    assert g.legal_mask(s)[0].nonzero()[:, 0].tolist() == [2 * 8 + 3, 3 * 8 + 2, 4 * 8 + 5, 5 * 8 + 4]
    s = g.step(s, torch.tensor([2 * 8 + 3]))
    assert s.board[0, 2:5, 3].tolist() == [1, 1, 1]  # the white disc at d4 flipped
    assert (s.board == 1).sum().item() == 4 and (s.board == -1).sum().item() == 1


def test_othello_pass_only_when_no_disc_move():
    g = make("othello", 1)
    b = torch.zeros(1, 8, 8, dtype=torch.int8)
    b[0, 0, 0], b[0, 0, 1] = 1, -1  # X at a1, O at b1: O to move has no move, X can play c1
    b[0, 7, 7] = 1
    s = g.from_boards(b, 1)
    mask = g.legal_mask(s)[0]
    assert mask.nonzero()[:, 0].tolist() == [64]
    s = g.step(s, torch.tensor([64]))
    assert not bool(s.terminal) and int(s.player) == 0
    assert g.legal_mask(s)[0].nonzero()[:, 0].tolist() == [2]  # X: c1 closes b1
    s = g.step(s, torch.tensor([2]))
    assert bool(s.terminal) and int(s.winner) == 0  # no discs of O left: neither side can move


@pytest.mark.parametrize("name", ["tictactoe", "gomoku", "othello"])
def test_square_symmetries_commute_with_moves(name):
    """For each of the 8 symmetries T: T(step(s, a)) == step(T(s), T(a)), and obs/policy move
    together (the transformed one-hot policy points at the transformed move)."""
    g = make(name, 4)
    torch.manual_seed(0)
    s = g.reset()
    for _ in range(5):  # a few random plies
        legal = g.legal_mask(s)
        s = g.step(s, (torch.rand(legal.shape) * legal).argmax(1))
    legal = g.legal_mask(s)
    a = (torch.rand(legal.shape) * legal).argmax(1)
    onehot = torch.nn.functional.one_hot(a, g.num_actions).float()
    after = g.step(s, a)
    variants = g.symmetries(g.observation(s), onehot)
    assert len(variants) == 8 and torch.equal(variants[0][0], g.observation(s))
    for k, (obs_k, pi_k) in enumerate(variants):
        a_k = pi_k.argmax(1)
        s_k = type(s)(dihedral(s.board, k), s.player, s.terminal, s.winner, s.moves)
        assert torch.equal(obs_k, g.observation(s_k))
        assert g.legal_mask(s_k).gather(1, a_k[:, None]).all()
        assert torch.equal(g.step(s_k, a_k).board, dihedral(after.board, k))


def test_connect4_mirror_symmetry():
    g = make("connect4", 1)
    s = g.from_moves(["1127"])
    obs = g.observation(s)
    pi = torch.tensor([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05, 0.0]])
    _, (o1, p1) = g.symmetries(obs, pi)
    assert torch.equal(o1, g.observation(g.from_moves(["7761"])))
    assert p1.tolist() == [pi[0].flip(0).tolist()]


def test_a_float_action_is_refused_not_truncated():
    game = make("tictactoe", 1, "cpu")
    state = game.reset()
    for bad in (torch.tensor([4.7]), [4.7], torch.tensor([True])):
        with pytest.raises(ValueError, match="actions must be integers"):
            game.step(state, bad)
    assert game.step(state, [4]).board.flatten().tolist().count(0) == 8  # ints still play
