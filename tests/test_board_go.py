"""Go 9x9 (envs/board/go.py): rules against OpenSpiel's `go` on random games, and hand-made
positions (capture, suicide, ko, superko, area scoring with komi, two passes), symmetries, search.

Action ids map one to one: OpenSpiel's go with board_size=9 numbers a point row*9+col with row 0 =
rank 1 (its "a1" is action 0, "j9" is 80; it skips the letter I) and 81 = pass; our board row r is
rank r+1, so board[r, c] is action r*9+c. OpenSpiel's observation planes are black, white, empty,
white-to-move, in the same cell order.

Hand-made boards below are written as array rows, row 0 (rank 1) FIRST.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlmeta.envs.board import make
from rlmeta.envs.board.core import dihedral
from rlmeta.envs.board.go import PASS

torch.set_num_threads(1)


def _board(rows: list[str]) -> torch.Tensor:
    """9 strings of 9 chars ('X' Black, 'O' White, '.'), row 0 = rank 1 first -> [1, 9, 9] int8."""
    v = {".": 0, "X": 1, "O": -1}
    rows = rows + ["." * 9] * (9 - len(rows))
    return torch.tensor([[v[c] for c in r.ljust(9, ".")] for r in rows], dtype=torch.int8)[None]


def _a(r: int, c: int) -> int:
    return r * 9 + c


def _chains_as_min_cell(chain: torch.Tensor) -> torch.Tensor:
    """Chain ids [B, 81] (81 = empty) -> each stone's chain named by its smallest cell."""
    cells = torch.arange(81).expand(chain.shape[0], 81)
    ids = chain.long()
    first = torch.full((chain.shape[0], 82), 81).scatter_reduce(1, ids, cells, "amin")
    first[:, 81] = 81  # empty cells stay 81
    return first.gather(1, ids)


def _legal(g, s) -> list[int]:
    return torch.nonzero(g.legal_mask(s)[0]).flatten().tolist()


# ---------------------------------------------------------------------- against OpenSpiel
def test_lockstep_random_games_against_openspiel():
    """Random games in lockstep: same legal actions, player, terminal flag, returns and stones at
    every ply, over games that end by two passes, by the 162-ply limit and by superko (draw)."""
    pyspiel = pytest.importorskip("pyspiel")
    n = 400
    og = pyspiel.load_game("go", {"board_size": 9})
    assert og.get_parameters()["komi"] == 7.5 and og.max_game_length() == 162
    assert og.num_distinct_actions() == 82
    g = make("go9", n, check=True)
    sts = [og.new_initial_state() for _ in range(n)]
    s = g.reset()
    rng = np.random.default_rng(1)
    plies = 0
    for _ in range(og.max_game_length() + 1):
        legal, rew = g.legal_mask(s).numpy(), g.rewards(s).numpy()
        term, player = s.terminal.numpy(), s.player.numpy()
        actions = np.zeros(n, dtype=np.int64)
        for i, st in enumerate(sts):
            assert bool(term[i]) == st.is_terminal(), (i, str(st))
            if st.is_terminal():
                np.testing.assert_array_equal(rew[i], np.asarray(st.returns(), np.float32), err_msg=str(st))
                assert not legal[i].any()
                continue
            assert int(player[i]) == st.current_player()
            assert np.flatnonzero(legal[i]).tolist() == st.legal_actions(), (i, str(st))
            assert (rew[i] == 0).all()
            actions[i] = rng.choice(st.legal_actions())
            st.apply_action(int(actions[i]))
            plies += 1
        if term.all():
            break
        s = g.step(s, torch.from_numpy(actions))
        board = s.board.numpy().reshape(n, 81)
        for i, st in enumerate(sts):
            obs = np.asarray(st.observation_tensor(0), np.float32).reshape(4, 81)
            np.testing.assert_array_equal(board[i], (obs[0] - obs[1]).astype(np.int8), err_msg=str(st))
        # the chain ids kept move by move partition the stones as a fresh flood fill does
        assert torch.equal(_chains_as_min_cell(s.chain), g._labels(s.board.flatten(1)))
    assert all(st.is_terminal() for st in sts) and bool(s.terminal.all())
    # every way a game can end occurred, so each was compared
    hist = [st.history() for st in sts]
    by_passes = sum(len(h) < 162 and h[-2:] == [PASS, PASS] for h in hist)
    by_length = sum(len(h) == 162 for h in hist)
    superko = sum(st.returns()[0] == 0 for st in sts)
    assert by_passes > 50 and by_length > 50 and superko >= 1, (by_passes, by_length, superko)
    assert int((s.winner == -1).sum()) == superko
    assert plies > 100 * n


# ---------------------------------------------------------------------- hand-made positions
def test_capture_and_no_ko_after_a_plain_capture():
    g = make("go9", 1, check=True)
    # White e5 (4,4) with three Black neighbours; a White pair d2-e2 (1,3),(1,4) with one liberty
    b = _board(["....X....", "..XOOX...", "...XX....", "....X....", "...XO....", "....X...."])
    s = g.from_boards(b, player=0)
    s = g.step(s, torch.tensor([_a(4, 5)]))  # Black f5 takes e5's last liberty
    assert int(s.board[0, 4, 4]) == 0 and int(s.board[0, 4, 5]) == 1
    assert int(s.ko[0]) == -1  # f5 has empty neighbours: no ko
    obs = g.observation(s)[0]  # White to move: its stones first
    assert torch.equal(obs[0], (s.board[0] == -1).float()) and torch.equal(obs[1], (s.board[0] == 1).float())
    assert bool(obs[2].all()) and not obs[3].any() and not obs[4].any()
    # e5 is now a point surrounded by Black stones with liberties: suicide for White
    assert _a(4, 4) not in _legal(g, s)
    s = g.step(s, torch.tensor([PASS]))
    s = g.step(s, torch.tensor([_a(0, 3)]))  # Black d1 removes both stones of the pair
    assert (s.board[0, 1, 3:5] == 0).all() and int(s.ko[0]) == -1
    assert int((s.board == -1).sum()) == 0 and int((s.board == 1).sum()) == 10


def test_suicide_is_illegal_unless_it_captures():
    g = make("go9", 1, check=True)
    # corner: Black a1 (0,0); White c1 (0,2), a2 (1,0), b2 (1,1)
    b = _board(["X.O......", "OO.......", "........."])
    s = g.from_boards(b, player=0)
    assert _a(0, 1) not in _legal(g, s)  # Black b1 joins a1 with no liberty left
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([_a(0, 1)]))
    s = g.from_boards(b, player=1)
    assert _a(0, 1) in _legal(g, s)  # White b1 captures a1
    s = g.step(s, torch.tensor([_a(0, 1)]))
    assert int(s.board[0, 0, 0]) == 0 and int(s.ko[0]) == -1  # b1 touches c1 (own): not a ko
    # single-stone suicide into White's eye at a1 is illegal for Black
    assert _a(0, 0) not in _legal(g, s) and _a(0, 0) in _legal(g, s._replace(player=s.player * 0 + 1))


KO_ROWS = [".........", ".........", ".........", ".XO......", "XO.O.....", ".XO......"]


def test_ko_recapture_illegal_at_once_legal_after_a_move_elsewhere():
    g = make("go9", 1, check=True)
    s = g.from_boards(_board(KO_ROWS), player=0)
    q, p = _a(4, 1), _a(4, 2)
    assert p in _legal(g, s)
    s = g.step(s, torch.tensor([p]))  # Black c5 takes b5 (one stone, in White's eye)
    assert int(s.board[0, 4, 1]) == 0 and int(s.ko[0]) == q
    assert q not in _legal(g, s)  # White may not retake at once
    assert "ko at b5" in g.to_string(s)
    assert g.observation(s)[0, 3].flatten().nonzero().flatten().tolist() == [q]  # ko plane
    with pytest.raises(ValueError, match="illegal"):
        g.step(s, torch.tensor([q]))
    s = g.step(s, torch.tensor([_a(8, 8)]))  # White plays elsewhere (a ko threat)
    assert int(s.ko[0]) == -1
    s = g.step(s, torch.tensor([_a(8, 0)]))  # Black answers elsewhere
    assert q in _legal(g, s)
    s = g.step(s, torch.tensor([q]))  # now White retakes; Black is banned at c5
    assert int(s.board[0, 4, 2]) == 0 and int(s.board[0, 4, 1]) == -1 and int(s.ko[0]) == p
    assert p not in _legal(g, s)
    s2 = g.step(s, torch.tensor([PASS]))  # a pass also lifts the ban
    assert int(s2.ko[0]) == -1 and p in _legal(g, s2._replace(player=s2.player * 0))


def test_ko_sequence_matches_openspiel():
    """The same ko fight replayed in OpenSpiel from the empty board (stones set up alternately)."""
    pyspiel = pytest.importorskip("pyspiel")
    black = [_a(3, 1), _a(4, 0), _a(5, 1)]
    white = [_a(3, 2), _a(5, 2), _a(4, 3), _a(4, 1)]
    setup = []
    for i in range(4):
        setup += [black[i] if i < 3 else PASS, white[i]]
    fight = [_a(4, 2), _a(8, 8), _a(8, 0), _a(4, 1), PASS]
    st = pyspiel.load_game("go", {"board_size": 9}).new_initial_state()
    g = make("go9", 1, check=True)
    s = g.reset()
    for a in setup + fight:
        assert _legal(g, s) == st.legal_actions()
        st.apply_action(a)
        s = g.step(s, torch.tensor([a]))
    assert _legal(g, s) == st.legal_actions() and _a(4, 2) in _legal(g, s)


def test_positional_superko_is_a_draw():
    g = make("go9", 1)
    s0 = g.from_boards(_board(KO_ROWS), player=0)
    s1 = g.step(s0, torch.tensor([_a(4, 2)]))  # Black takes the ko
    # lift the simple-ko ban by hand: White's retake would recreate s0's board, seen before
    s2 = g.step(s1._replace(ko=s1.ko * 0 - 1), torch.tensor([_a(4, 1)]))
    assert torch.equal(s2.board, s0.board)
    assert bool(s2.terminal[0]) and int(s2.winner[0]) == -1 and g.rewards(s2).tolist() == [[0.0, 0.0]]
    assert not g.step(s1._replace(ko=s1.ko * 0 - 1), torch.tensor([PASS])).terminal[0]


@pytest.mark.parametrize(
    "rows,black_minus_white",
    [
        (["....XO..."] * 9, 45 - 36),  # walls: Black owns files a-e, White f-i
        (["...XO...."] * 9, 36 - 45),
        (["O...XO..."] + ["....XO..."] * 8, 9 - 37),  # White a1 makes a-d neutral (reaches both)
        (["X" + "." * 8] + ["." * 9] * 7 + ["." * 8 + "O"], 1 - 1),  # the empty area reaches both: dame
    ],
)
def test_area_scoring_with_komi_after_two_passes(rows, black_minus_white):
    g = make("go9", 1)
    s = g.from_boards(_board(rows), player=0)
    assert float(g.score(s)[0]) == black_minus_white - 7.5
    s = g.step(s, torch.tensor([PASS]))
    assert not bool(s.terminal[0]) and int(s.passes[0]) == 1
    assert bool(g.observation(s)[0, 4].all())  # "opponent passed" plane
    s = g.step(s, torch.tensor([PASS]))
    assert bool(s.terminal[0]) and int(s.moves[0]) == int(s.board.ne(0).sum()) + 2
    winner = 0 if black_minus_white - 7.5 > 0 else 1
    assert int(s.winner[0]) == winner
    assert g.rewards(s)[0].tolist() == ([1.0, -1.0] if winner == 0 else [-1.0, 1.0])
    assert not g.legal_mask(s).any()
    assert f"Black - White - komi = {black_minus_white - 7.5:+g}" in g.to_string(s)
    s2 = g.step(s, torch.tensor([_a(0, 0)]))  # terminal rows are frozen
    assert torch.equal(s2.board, s.board) and int(s2.moves[0]) == int(s.moves[0])


def test_a_move_between_passes_keeps_the_game_going():
    g = make("go9", 1)
    s = g.reset()
    for a in [PASS, 40, PASS, 41]:
        s = g.step(s, torch.tensor([a]))
        assert not bool(s.terminal[0])
    s = g.step(g.step(s, torch.tensor([PASS])), torch.tensor([PASS]))
    assert bool(s.terminal[0]) and int(s.winner[0]) == 1  # White's 2 stones own the board


def test_game_ends_at_162_plies():
    """OpenSpiel's max_game_length: the 162nd ply ends the game, which is then scored."""
    g = make("go9", 2)
    s = g.reset()
    s = s._replace(moves=torch.tensor([160, 161]))
    s = g.step(s, torch.tensor([40, 40]))
    assert s.terminal.tolist() == [False, True] and s.moves.tolist() == [161, 162]
    assert s.winner.tolist() == [-1, 0]  # one Black stone owns the board: 81 - 7.5


# ---------------------------------------------------------------------- symmetry, search
def test_legal_moves_commute_with_the_8_symmetries():
    g = make("go9", 16)
    torch.manual_seed(1)
    s = g.reset()
    for _ in range(60):  # random positions with captures and atari
        legal = g.legal_mask(s)
        legal[:, PASS] = False
        s = g.step(s, (torch.rand(legal.shape) * legal).argmax(1))
    s = g.from_boards(s.board, s.player)
    obs, legal = g.observation(s), g.legal_mask(s).float()
    for k, (o, p) in enumerate(g.symmetries(obs, legal)):
        sk = g.from_boards(dihedral(s.board, k), s.player)
        assert torch.equal(g.observation(sk), o)
        assert torch.equal(g.legal_mask(sk).float(), p)  # pass (column 81) kept in place


def test_search_runs_on_go_positions():
    from rlmeta.agents.alphazero.search import SearchConfig, search, uniform_model

    g = make("go9", 4)
    torch.manual_seed(0)
    s = g.reset()
    for _ in range(10):
        legal = g.legal_mask(s)
        legal[:, PASS] = False
        s = g.step(s, (torch.rand(legal.shape) * legal).argmax(1))
    for algo in ("puct", "gumbel"):
        out = search(g, s, uniform_model, SearchConfig(num_simulations=8, algorithm=algo, max_considered=4))
        assert g.legal_mask(s).gather(1, out.action[:, None]).all()
        assert out.policy.shape == (4, 82) and torch.allclose(out.policy.sum(1), torch.ones(4))
        assert (out.policy[~g.legal_mask(s)] == 0).all()
