"""Illegal actions raise by default: the legality each game's `_step` reports agrees with
its legal mask on every action of random positions, the cases the issue found (a Connect Four stone
on a full column, a Go suicide, out-of-range actions, `from_moves('1111111')`) raise, terminal rows
stay frozen, check=False opts out, and the search's unchecked hot paths only ever play legal moves."""

from __future__ import annotations

import pytest
import torch

from rlmeta.envs.board import GAMES, make, random_legal_action, where_state

torch.set_num_threads(1)


def _random_positions(name: str, n: int, plies: int, seed: int = 0):
    """n positions after up to `plies` random legal moves (some finished, some not)."""
    torch.manual_seed(seed)
    g = make(name, n)
    s = g.reset()
    for t in range(plies):
        live = (torch.arange(n) % (plies + 1)) > t  # row i plays i % (plies + 1) plies: varied depths
        a = random_legal_action(g.legal_mask(s))
        s = where_state(live & ~s.terminal, g.step(s, a), s)
    return g, s


@pytest.mark.parametrize("name", list(GAMES))
def test_step_legality_matches_legal_mask_on_every_action(name):
    plies = {"tictactoe": 8, "connect4": 30, "othello": 40, "gomoku": 30, "go9": 60}[name]
    g, s = _random_positions(name, 48, plies)
    mask = g.legal_mask(s)  # [B, A]
    live = ~s.terminal
    assert live.any()
    for a in range(-2, g.num_actions + 2):
        action = torch.full((48,), a)
        _, legal = g._step(s, action)
        in_range = 0 <= a < g.num_actions
        expected = mask[:, a] if in_range else torch.zeros(48, dtype=torch.bool)
        ok = ~live | (legal & in_range)
        assert torch.equal(ok[live], expected[live]), (name, a)
        if bool((live & ~expected).any()):
            with pytest.raises(ValueError, match="illegal action"):
                g.step(s, action)
        else:
            g.step(s, action)  # legal everywhere it matters: no error


def test_connect4_full_column_and_out_of_range_raise_by_default():
    g = make("connect4", 1)  # default: checked
    s = g.reset()
    for _ in range(6):
        s = g.step(s, torch.tensor([2]))
    with pytest.raises(ValueError, match=r"illegal action in rows \[0\]: \[2\]"):
        g.step(s, torch.tensor([2]))
    for a in (-1, 7, 100):
        with pytest.raises(ValueError, match="illegal"):
            g.step(g.reset(), torch.tensor([a]))
    # check=False is the documented opt-out (per call or per game): no test, the move is applied
    g.step(s, torch.tensor([2]), check=False)
    make("connect4", 1, check=False).step(s, torch.tensor([2]))


def test_terminal_rows_accept_any_action():
    g = make("tictactoe", 2)
    s = g.from_boards(torch.tensor([[1, 1, 0], [-1, -1, 0], [0, 0, 0]], dtype=torch.int8).expand(2, 3, 3))
    s = g.step(s, torch.tensor([2, 8]))  # row 0: X completes the top row; row 1 goes on
    assert s.terminal.tolist() == [True, False]
    s2 = g.step(s, torch.tensor([0, 5]))  # row 0 is over: its (occupied) cell is ignored
    assert torch.equal(s2.board[0], s.board[0])
    with pytest.raises(ValueError, match=r"rows \[1\]: \[0\]"):
        g.step(s, torch.tensor([5, 0]))  # the live row's occupied cell is not


def test_go_suicide_and_ko_raise():
    g = make("go9", 1)
    b = torch.zeros(1, 9, 9, dtype=torch.int8)
    b[0, 0, 1] = b[0, 1, 0] = -1  # White b1, a2: a1 is suicide for Black
    s = g.from_boards(b, 0)
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([0]))
    assert int(g.step(s, torch.tensor([81])).passes) == 1  # passing is always legal
    # ko: Black takes one stone in White's eye; White may not retake at once
    b = torch.zeros(1, 9, 9, dtype=torch.int8)
    for r, c, v in [(4, 1, 1), (3, 2, 1), (5, 2, 1), (4, 2, -1), (3, 3, -1), (5, 3, -1), (4, 4, -1)]:
        b[0, r, c] = v
    s = g.step(g.from_boards(b, 0), torch.tensor([4 * 9 + 3]))  # Black d5 captures c5
    assert int(s.ko) == 4 * 9 + 2
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([4 * 9 + 2]))


def test_othello_nonflipping_disc_and_early_pass_raise():
    g = make("othello", 1)
    s = g.reset()
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([0]))  # a1 flips nothing
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([64]))  # pass while a disc move exists
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([27]))  # d4 is occupied
    assert int(g.step(s, torch.tensor([19])).moves) == 1  # d3 is one of the four openings


def test_connect4_from_moves_rejects_illegal_moves_by_name():
    g = make("connect4", 1)
    assert int(g.from_moves(["1111112"]).moves) == 7
    with pytest.raises(ValueError, match=r"'1111111': move 7 \(1\) is illegal: column 1 is full"):
        g.from_moves(["4", "1111111"])
    with pytest.raises(ValueError, match=r"'12121211': move 8 \(1\) is illegal: the game is already over"):
        g.from_moves(["12121211"])
    with pytest.raises(ValueError, match=r"'48': move 2 \('8'\) is not a column 1-7"):
        g.from_moves(["48"])


class _AlwaysChecked:
    """A game whose step checks even when the caller passes check=False (the search's hot paths)."""

    def __init__(self, game):
        self._game = game

    def __getattr__(self, name):
        return getattr(self._game, name)

    def step(self, state, action, check=None):
        return self._game.step(state, action, check=True)


@pytest.mark.parametrize("name", ["tictactoe", "connect4", "othello"])
def test_search_hot_paths_play_only_legal_actions(name):
    """The unchecked game.step calls of search.py (expansion, rollouts, the solver's win-now test)
    with the check forced on: searches of every kind over random positions raise nothing."""
    from rlmeta.agents.alphazero.search import SearchConfig, reuse_subtree, search, uniform_model

    g, s = _random_positions(name, 24, 12, seed=1)
    checked = _AlwaysChecked(g)
    cfgs = [
        SearchConfig(num_simulations=24, algorithm="puct", dirichlet_fraction=0.25, solver=True),
        SearchConfig(num_simulations=24, algorithm="gumbel", max_considered=4, solver=True),
        SearchConfig(num_simulations=24, algorithm="uct", rollout_weight=1.0),
    ]
    for cfg in cfgs:
        out = search(checked, s, uniform_model, cfg)
        nxt = checked.step(s, out.action)  # the chosen moves are legal too
        out = search(checked, nxt, uniform_model, cfg, tree=reuse_subtree(out.tree, out.action, keep=~nxt.terminal))
        checked.step(nxt, out.action)
