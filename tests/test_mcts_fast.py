"""The CPU fast paths of the batched search against the code they replace: Connect Four bitboard
playouts (envs/board/connect4.py BitConnectFour) against ConnectFour itself, and the search with
edge statistics and one-step path backups (`search`) against the per-level reference
(tests/mcts_reference.py)."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
from mcts_reference import reference_search  # tests/mcts_reference.py

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.search import rollout, search
from rlmeta.agents.alphazero.tree import Tree, reuse_subtree
from rlmeta.envs.board import make
from rlmeta.envs.board.connect4 import BitConnectFour

torch.set_num_threads(1)


def test_bitboards_play_the_same_games_as_the_board():
    """256 random games to the end: after every ply the bitboards stepped from the previous ply
    equal the bitboards of the board stepped by ConnectFour (wins in every direction, draws)."""
    torch.manual_seed(0)
    g = make("connect4", 256)
    sim = BitConnectFour(g.device)
    s = g.reset()
    bits = sim.from_state(s)
    while not bool(s.terminal.all()):
        live = ~s.terminal
        a = sim.random_action(bits)
        assert bool(g.legal_mask(s).gather(1, a[:, None])[live.nonzero()[:, 0], 0].all())
        s = g.step(s, torch.where(live, a, 0), check=False)
        bits = sim.step(bits, a)
        ref = sim.from_state(s)
        for name in ("own", "mask", "full", "player"):  # kept up to date in live rows only
            assert torch.equal(getattr(bits, name)[live], getattr(ref, name)[live]), name
        assert torch.equal(bits.terminal, s.terminal) and torch.equal(bits.winner, s.winner)
        assert torch.equal(sim.legal_mask(bits)[live], g.legal_mask(s)[live])
    assert int((s.winner >= 0).sum()) > 200 and int(s.moves.max()) > 30


def test_move_table_is_uniform_over_free_columns():
    """Each row of the 128 x 420 table holds every free column 420 / k times and no full one."""
    sim = BitConnectFour(torch.device("cpu"))
    table = sim._move_table.view(128, sim.DRAWS)
    for full in range(128):
        free = [c for c in range(7) if not full >> c & 1]
        counts = torch.bincount(table[full], minlength=7)
        want = torch.zeros(7, dtype=torch.long)
        if free:
            want[free] = sim.DRAWS // len(free)
        else:
            want[0] = sim.DRAWS  # a finished row: any column, never played
        assert torch.equal(counts, want), full


def test_bitboard_playouts_match_board_playouts():
    """Random playouts from the same 8 positions, 1000 each, on bitboards and on the board: the
    forced result where the game is over (X has four in column 1: -1 for O to move), and mean
    outcomes within 4 standard errors of each other elsewhere."""
    g = make("connect4", 1)
    openings = ["", "4444", "3344556", "1212121", "44444435", "7777776666665", "43", "4455"]
    s = g.from_moves([m for m in openings for _ in range(1000)])
    torch.manual_seed(1)
    fast = rollout(g, s).view(8, 1000)
    torch.manual_seed(2)
    slow = rollout(g, s, fast=False).view(8, 1000)
    se = ((fast.var(1) + slow.var(1)) / 1000).sqrt()
    assert ((fast.mean(1) - slow.mean(1)).abs() <= 4 * se + 1e-6).all(), (fast.mean(1), slow.mean(1))
    assert (fast[3] == -1).all() and (slow[3] == -1).all()
    assert set(fast.unique().tolist()) <= {-1.0, 0.0, 1.0}


def _model(obs: torch.Tensor, legal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic stand-in network: logits and value that vary with the position."""
    flat = obs.flatten(1)
    w = torch.linspace(-1.0, 1.0, flat.shape[1])
    logits = torch.sin(flat @ torch.linspace(0.3, 2.0, flat.shape[1])[:, None] * torch.arange(1.0, legal.shape[1] + 1))
    return logits, torch.tanh(flat @ w)


def _assert_same_tree(a: Tree, b: Tree) -> None:
    for f in fields(Tree):
        x, y = getattr(a, f.name), getattr(b, f.name)
        for u, v in zip(x, y) if f.name == "states" else [(x, y)]:
            assert torch.equal(u, v), f.name


@pytest.mark.parametrize("game", ["tictactoe", "connect4"])
@pytest.mark.parametrize(
    "cfg",
    [
        SearchConfig(num_simulations=40, algorithm="uct", rollout_weight=1.0),
        SearchConfig(num_simulations=40, algorithm="puct", dirichlet_fraction=0.25),
        SearchConfig(num_simulations=40, algorithm="gumbel", max_considered=4),
        SearchConfig(num_simulations=40, algorithm="puct", solver=True),
        SearchConfig(num_simulations=40, algorithm="gumbel", solver=True, rollout_weight=0.5),
    ],
    ids=["uct-rollout", "puct-dirichlet", "gumbel", "puct-solver", "gumbel-solver-mix"],
)
def test_fast_search_builds_the_reference_tree(game, cfg):
    """Two moves of 16 games (the second on the reused subtree): every tree field and every
    output of the fast search equal the reference search's, bit for bit."""
    g = make(game, 16)
    s = g.reset()
    runs = []
    for run in (search, reference_search):
        torch.manual_seed(0)
        first = run(g, s, _model, cfg)
        second = run(g, g.step(s, first.action), _model, cfg, tree=reuse_subtree(first.tree, first.action))
        runs.append((first, second))
    for fast_out, ref_out in zip(*runs):
        _assert_same_tree(fast_out.tree, ref_out.tree)
        for x, y in zip(fast_out[:5], ref_out[:5]):
            assert torch.equal(x, y)
    assert int(runs[0][1].tree.num_nodes.min()) > 40  # the second search grew the reused subtree


@pytest.mark.parametrize("game", ["othello", "go9"])
def test_fast_search_builds_the_reference_tree_with_passes(game):
    """Games with a pass action (the same player can be to move at a node and its child's parent
    view flips or not by the stored players): the fast search's trees equal the reference's."""
    g = make(game, 4)
    s = g.reset()
    cfg = SearchConfig(num_simulations=24, algorithm="gumbel", max_considered=8)
    out = []
    for run in (search, reference_search):
        torch.manual_seed(1)
        out.append(run(g, s, _model, cfg))
    _assert_same_tree(out[0].tree, out[1].tree)
    assert torch.equal(out[0].policy, out[1].policy) and torch.equal(out[0].action, out[1].action)


def test_backup_writes_through_non_contiguous_fields():
    """backup() on a tree whose statistics are strided views (a slice of a wider tensor) updates
    the views, as on contiguous fields (flat index_copy_ would write to a lost copy)."""
    from rlmeta.agents.alphazero.search import NO_PARENT, backup, empty_tree

    g = make("tictactoe", 2)
    trees = [empty_tree(g, g.reset(), capacity=4) for _ in range(2)]
    wide = torch.zeros(2, 5, 2)
    trees[1].node_visits, trees[1].value_sums = wide[..., 0], wide[..., 1]  # [2, 5] with stride 2
    assert not trees[1].node_visits.is_contiguous()
    for t in trees:
        t.player[:, :3] = torch.tensor([0, 1, 0])
        t.parents[:, :3] = torch.tensor([NO_PARENT, 0, 1])
        backup(t, torch.tensor([2, 1]), torch.tensor([1.0, -0.5]))
    assert torch.equal(trees[0].node_visits, trees[1].node_visits)
    assert torch.equal(trees[0].value_sums, trees[1].value_sums)
    assert wide[0, :3, 0].tolist() == [1.0, 1.0, 1.0] and wide[1, :3, 1].tolist() == [0.5, -0.5, 0.0]
