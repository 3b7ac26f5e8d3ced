"""The CPU fast paths of the batched search against the code they replace: Connect Four bitboard
playouts (envs/board/connect4.py BitConnectFour) against ConnectFour itself."""

from __future__ import annotations

import torch

from agents.alphazero.search import rollout
from envs.board import make
from envs.board.connect4 import BitConnectFour

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
