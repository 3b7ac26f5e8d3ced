"""Batched MCTS (agents/alphazero/search.py) against hand-computed numbers."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from rlmeta.agents.alphazero.search import (
    NO_PARENT,
    ROOT_INDEX,
    UNVISITED,
    SearchConfig,
    backup,
    completed_qvalues,
    considered_visit_sequence,
    empty_tree,
    reuse_subtree,
    search,
    uniform_model,
)
from rlmeta.envs.board import make

torch.set_num_threads(1)


def test_backup_flips_sign_per_ply():
    g = make("tictactoe", 1)
    tree = empty_tree(g, g.reset(), capacity=4)
    # chain root(X) -a-> 1(O) -b-> 2(X) -c-> 3(O)
    tree.player[0, :4] = torch.tensor([0, 1, 0, 1])
    tree.parents[0, :4] = torch.tensor([NO_PARENT, 0, 1, 2])
    tree.num_nodes[:] = 4
    backup(tree, torch.tensor([3]), torch.tensor([1.0]))  # O (to move at 3) is winning
    backup(tree, torch.tensor([2]), torch.tensor([0.5]))  # X (to move at 2) is better
    assert tree.node_visits[0, :4].tolist() == [2, 2, 2, 1]
    # root: -1 + 0.5; node 1 (O): +1 - 0.5; node 2 (X): -1 + 0.5; node 3 (O): +1
    assert tree.value_sums[0, :4].tolist() == [-0.5, 0.5, -0.5, 1.0]


def _fixed_model(obs, legal):
    """Priors strictly ordered by action id (logit -2a), value 0.5 for the player to move."""
    logits = -2.0 * torch.arange(legal.shape[1], dtype=torch.float32).expand(legal.shape)
    return logits, torch.full((legal.shape[0],), 0.5)


def test_puct_search_numbers_match_hand_computation():
    g = make("tictactoe", 1)
    cfg = SearchConfig(num_simulations=2, c_init=1.25, c_base=19652.0)
    out = search(g, g.reset(), _fixed_model, cfg)
    t = out.tree
    # root init: N=1, W=0.5 (X's view).
    # sim 1: all Q = 0, argmax prior -> action 0; new node 1 (O to move) v=0.5;
    #        backup: node1 N=1 W=0.5; root N=2 W=0.5-0.5=0.
    # sim 2 at the root: a=0: Q=-0.5, U=c*sqrt(2)*P0/2; a=1: Q=0, U=c*sqrt(2)*P1.
    P = torch.softmax(-2.0 * torch.arange(9.0), 0)
    c = 1.25 + math.log((2 + 19652 + 1) / 19652)
    s0, s1 = -0.5 + c * math.sqrt(2) * P[0] / 2, c * math.sqrt(2) * P[1]
    assert s0 > s1  # so sim 2 descends into node 1, where action 0 is taken: node 1 expands action 1
    # node 2 (X to move) v=0.5; backup: node2 N=1 W=0.5; node1 (O) N=2 W=0.5-0.5=0; root N=3 W=0+0.5
    assert t.num_nodes.tolist() == [3]
    assert t.node_visits[0, :3].tolist() == [3, 2, 1]
    assert t.value_sums[0, :3].tolist() == [0.5, 0.0, 0.5]
    assert t.children[0, 0, 0] == 1 and t.children[0, 1, 1] == 2 and t.children[0, 0, 1] == UNVISITED
    assert t.parents[0, :3].tolist() == [NO_PARENT, 0, 1]
    assert out.visit_counts[0].tolist() == [2] + [0] * 8
    assert out.qvalues[0, 0].item() == pytest.approx(0.0)  # node1: W/N = 0 for O -> 0 for X


def test_gumbel_sequential_halving_schedule():
    assert considered_visit_sequence(4, 16) == (0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5)
    g = make("tictactoe", 8)
    cfg = SearchConfig(num_simulations=16, algorithm="gumbel", max_considered=4)
    out = search(g, g.reset(), uniform_model, cfg)
    # 4 actions x 2 visits, then the best 2 get 4 more each: sorted visits 6, 6, 2, 2, 0, ...
    for row in out.visit_counts:
        assert sorted(row.tolist(), reverse=True) == [6, 6, 2, 2, 0, 0, 0, 0, 0]
    # the chosen action is one of the two survivors of the last halving round
    assert (out.visit_counts.gather(1, out.action[:, None]) == 6).all()


def test_completed_q_hand_computation():
    g = make("tictactoe", 1)
    tree = empty_tree(g, g.reset(), capacity=4)
    # root (X) with 3 legal actions 0, 1, 2; actions 0 and 1 visited (children are O nodes)
    tree.legal[0, 0] = False
    tree.legal[0, 0, :3] = True
    logits = torch.tensor([0.0, math.log(2.0), math.log(3.0)])
    tree.prior_logits[0, 0, :3] = logits
    tree.raw_values[0, 0] = 0.2
    tree.player[0, :3] = torch.tensor([0, 1, 1])
    tree.children[0, 0, 0], tree.children[0, 0, 1] = 1, 2
    tree.parents[0, 1:3] = 0
    tree.node_visits[0, :3] = torch.tensor([6.0, 3.0, 2.0])
    tree.value_sums[0, 1:3] = torch.tensor([-1.5, 0.4])  # O's view: q(0) = +0.5, q(1) = -0.2 for X
    cfg = SearchConfig(c_visit=50.0, c_scale=0.1)
    sigma = completed_qvalues(tree, torch.tensor([ROOT_INDEX]), cfg)[0, :3]
    # pi = (1/6, 2/6, 3/6); v_mix = (0.2 + 5 * (1/6*0.5 + 2/6*(-0.2)) / (3/6)) / 6
    v_mix = (0.2 + 5 * ((1 / 6) * 0.5 + (2 / 6) * (-0.2)) / 0.5) / 6
    q = torch.tensor([0.5, -0.2, v_mix])
    q = (q - q.min()) / (q.max() - q.min())
    expected = (50 + 3) * 0.1 * q
    assert torch.allclose(sigma, expected, atol=1e-5)
    target = torch.softmax(logits + expected, 0)
    got = torch.softmax(tree.prior_logits[0, 0, :3] + sigma, 0)
    assert torch.allclose(got, target, atol=1e-6)


def _tictactoe_minimax():
    """Exact values of every tic-tac-toe position for the player to move (memoised on the board)."""

    lines = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]

    @functools.cache
    def value(cells: tuple[int, ...]) -> int:  # cells: +1 player to move, -1 opponent
        if any(all(cells[i] == -1 for i in ln) for ln in lines):
            return -1
        if all(c != 0 for c in cells):
            return 0
        return max(-value(tuple(-x for x in cells[:a] + (1,) + cells[a + 1 :])) for a in range(9) if cells[a] == 0)

    return value


def _perfect_model(obs, legal):
    value = _tictactoe_minimax()
    cells = (obs[:, 0] - obs[:, 1]).flatten(1).long().tolist()
    v = torch.tensor([float(value(tuple(c))) for c in cells])
    return torch.zeros(legal.shape), v


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_perfect_value_wins_and_blocks(algorithm):
    g = make("tictactoe", 2)
    boards = torch.tensor(
        [
            [[1, 1, 0], [-1, -1, 0], [0, 0, 0]],  # X to move: 2 wins (5 would only block)
            [[1, 1, 0], [-1, 0, 0], [1, 0, -1]],  # O to move: must block at 2
        ]
    )
    s = g.from_boards(boards)
    cfg = SearchConfig(num_simulations=32, algorithm=algorithm, gumbel_scale=0.0)
    out = search(g, s, _perfect_model, cfg)
    assert out.action.tolist() == [2, 2]


def test_terminal_nodes_use_exact_outcome():
    g = make("tictactoe", 1)
    s = g.from_boards(torch.tensor([[[1, 1, 0], [-1, -1, 0], [0, 0, 0]]]))
    # a model that lies (every position is worth +1 for the player to move) cannot hide the win
    liar = lambda obs, legal: (torch.zeros(legal.shape), torch.ones(legal.shape[0]))  # noqa: E731
    out = search(g, s, liar, SearchConfig(num_simulations=40))
    assert out.action.item() == 2
    assert out.qvalues[0, 2].item() == pytest.approx(1.0)  # exact win, from X's view


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_subtree_reuse_keeps_statistics(algorithm):
    g = make("tictactoe", 3)
    s = g.reset()
    cfg = SearchConfig(num_simulations=48, algorithm=algorithm, rollout_weight=1.0)
    out = search(g, s, uniform_model, cfg)
    t, a = out.tree, out.action
    r = torch.arange(3)
    child = t.children[r, ROOT_INDEX, a]
    new = reuse_subtree(t, a)
    assert new.node_visits[:, ROOT_INDEX].tolist() == t.node_visits[r, child].tolist()
    assert torch.equal(new.value_sums[:, ROOT_INDEX], t.value_sums[r, child])
    # root children of the new tree = grandchildren of the old one, same statistics
    old_q, old_n = t.qvalues(child)
    new_q, new_n = new.qvalues(torch.zeros(3, dtype=torch.long))
    assert torch.equal(old_n, new_n) and torch.allclose(old_q, new_q)
    # the kept node count is the subtree size: 1 + total visits below the root is an upper bound
    assert (new.num_nodes <= new.node_visits[:, 0].long()).all()
    assert (new.num_nodes >= 1).all()
    # the stored root state is the position after the move
    s1 = g.step(s, a)
    assert torch.equal(new.states.board[:, ROOT_INDEX], s1.board)
    # searching on adds num_simulations visits to the kept root
    out2 = search(g, s1, uniform_model, cfg, tree=new)
    assert (out2.tree.node_visits[:, ROOT_INDEX] == new.node_visits[:, ROOT_INDEX] + cfg.num_simulations).all()
    # keep=False drops a row: it restarts from scratch (one root visit + num_simulations)
    dropped = reuse_subtree(t, a, keep=torch.tensor([True, False, True]))
    assert dropped.num_nodes[1] == 0
    out3 = search(g, s1, uniform_model, cfg, tree=dropped)
    assert out3.tree.node_visits[1, ROOT_INDEX] == cfg.num_simulations + 1


@pytest.mark.parametrize("lam", [0.0, 0.25, 1.0])
def test_leaf_value_mixes_network_and_rollout(lam):
    """AlphaGo's leaf evaluation V = (1 - lambda) v_net + lambda z_rollout, on a position whose only
    move wins for X (so the rollout outcome is z = +1 exactly) and a network that says -0.5."""
    g = make("tictactoe", 1)
    s = g.from_boards(torch.tensor([[[1, -1, 1], [-1, 1, -1], [-1, 1, 0]]]))  # X to move; 8 wins (0-4-8)
    net = lambda obs, legal: (torch.zeros(legal.shape), torch.full((legal.shape[0],), -0.5))  # noqa: E731
    out = search(g, s, net, SearchConfig(num_simulations=1, rollout_weight=lam))
    t = out.tree
    assert t.raw_values[0, ROOT_INDEX].item() == pytest.approx((1 - lam) * -0.5 + lam * 1.0)
    # the child is terminal: valued by the exact outcome (+1 for X = -1 for O), never by the mix
    assert t.raw_values[0, 1].item() == pytest.approx(-1.0)
    assert t.value_sums[0, ROOT_INDEX].item() == pytest.approx((1 - lam) * -0.5 + lam + 1.0)


def test_rollout_policy_steers_rollouts():
    """rollout() with a policy that strongly prefers the lowest free cell plays it every time."""
    from rlmeta.agents.alphazero.search import rollout

    g = make("tictactoe", 64)
    # O to move with cells 7 and 8 free: O at 7 leaves X the last cell 8 (0-4-8 wins for X); O at 8
    # blocks and the game ends in a draw when X fills 7.
    b = torch.tensor([[1, -1, 1], [-1, 1, 1], [-1, 0, 0]]).expand(64, 3, 3)
    s = g.from_boards(b)
    assert s.player.tolist() == [1] * 64

    def prefer(target):  # a rollout policy that strongly prefers one cell
        return lambda obs, legal: torch.where(torch.arange(9) == target, 20.0, 0.0).expand(legal.shape)

    z7 = rollout(g, s, prefer(7))
    z8 = rollout(g, s, prefer(8))
    assert z7.tolist() == [-1.0] * 64  # from O's view: X wins
    assert z8.tolist() == [0.0] * 64
    z = rollout(g, s, None)  # uniform: half and half
    assert -0.8 < z.mean().item() < -0.2


# ---------------------------------------------------------------------- MCTS-Solver
@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_solver_proofs_agree_with_exact_tictactoe_values(algorithm):
    """Every non-terminal tic-tac-toe position (4520) searched with a uniform model: each proof at
    the root or at a root child agrees with exact minimax, many positions get proven, the move
    played in a proven-won position is optimal, and no proven-lost move is played while some
    move is not proven lost."""
    from rlmeta.agents.alphazero.evaluate import TicTacToeEvaluator
    from rlmeta.envs.board.solvers import tictactoe_solver

    ev = TicTacToeEvaluator()
    cfg = SearchConfig(num_simulations=48, algorithm=algorithm, solver=True, gumbel_scale=0.0, max_considered=9)
    out = search(ev.game, ev.states, uniform_model, cfg)
    t = out.tree
    root_proof = t.proven[:, ROOT_INDEX]
    proven = root_proof != 0
    assert int(proven.sum()) > 3000  # measured 3420 (puct) and 3380 (gumbel) of the 3468 won or lost positions
    assert torch.equal(root_proof[proven].long(), ev.values[proven])  # no false proof
    # root children: proofs are from the child's mover (the opponent) view
    ch = t.children[:, ROOT_INDEX]  # [P, 9]
    child_proof = torch.where(ch >= 0, t.proven.gather(1, ch.clamp(min=0)), 0.0)
    rows, acts = (child_proof != 0).nonzero(as_tuple=True)
    boards = t.states.board[rows, ch[rows, acts]]
    exact = tictactoe_solver().value(boards)
    assert torch.equal(child_proof[rows, acts].long(), exact)
    # won positions: the move played is optimal (wins)
    won = root_proof > 0
    assert bool(ev.optimal[won].gather(1, out.action[won, None]).all())
    # never a proven loss when some legal move is not one
    legal = ev.game.legal_mask(ev.states)
    lost_child = (child_proof > 0) & legal  # child's mover wins
    escapable = (legal & ~lost_child).any(1)
    assert not bool(lost_child.gather(1, out.action[:, None]).squeeze(1)[escapable].any())


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_solver_finds_a_win_in_two_the_prior_hides(algorithm):
    """Connect Four, Pons Middle-Easy position 164: X to move wins in two (columns 1, 2, 6 of 1-7
    win; the others do not). With a prior that puts 77% on the losing column 5 the solver
    proves a winning move and plays it."""
    g = make("connect4", 1)
    s = g.from_moves(["673777363513616553"])

    def misleading(obs, legal):
        logits = torch.where(torch.arange(7) == 4, 3.0, 0.0).expand(legal.shape)
        return logits, torch.zeros(legal.shape[0])

    cfg = SearchConfig(num_simulations=400, algorithm=algorithm, solver=True, gumbel_scale=0.0, max_considered=7)
    out = search(g, s, misleading, cfg)
    assert out.tree.proven[0, ROOT_INDEX].item() == 1.0
    assert out.action.item() in (0, 1, 5)


def test_immediate_wins_marks_exactly_the_winning_moves():
    from rlmeta.agents.alphazero.search import immediate_wins

    g = make("tictactoe", 2)
    # row 0: X to move, 2 completes 0-1-2, 7 completes 1-4-7, 8 completes 0-4-8;
    # row 1: O to move, 2 completes 0-1-2 and 8 completes 0-4-8 (X's 6-7 threat does not count)
    b = torch.tensor([[[1, 1, 0], [-1, 1, -1], [-1, 0, 0]], [[-1, -1, 0], [1, -1, 1], [1, 1, 0]]], dtype=torch.int8)
    s = g.from_boards(b)
    assert s.player.tolist() == [0, 1]
    wins = immediate_wins(g, s, g.legal_mask(s))
    assert wins.nonzero().tolist() == [[0, 2], [0, 7], [0, 8], [1, 2], [1, 8]]


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_solver_plays_the_latest_loss_when_every_move_loses(algorithm):
    """Connect Four `4261646`: X has three in column 6, O to move is lost. Every column but 6 lets X
    win at once (Pons: child scores -17, column 6 -16); the search plays 6, not the first column."""
    from rlmeta.envs.board.solvers import connect4_solver

    scores = connect4_solver().child_scores("4261646")
    assert scores.index(max(scores)) == 5
    g = make("connect4", 1)
    s = g.from_moves(["4261646"])
    cfg = SearchConfig(num_simulations=200, algorithm=algorithm, solver=True, gumbel_scale=0.0, max_considered=7)
    out = search(g, s, uniform_model, cfg)
    assert out.action.item() == 5
    if algorithm == "puct":  # proven lost: O blocks, X plays, O replies, X wins = 4 plies
        assert out.tree.proven[0, ROOT_INDEX].item() == -1.0 and out.tree.proof_depth[0, ROOT_INDEX].item() == 4.0


def _tictactoe_plies_after_each_move(ev, solver):
    """[P, 9] exact plies to the end after each legal move (winner hurrying, loser delaying), inf
    where illegal."""
    out = torch.full((ev.states.player.shape[0], 9), math.inf)
    for i, (cells, p) in enumerate(zip(ev.states.board.flatten(1).tolist(), ev.states.player.tolist())):
        for a in (a for a in range(9) if cells[a] == 0):
            out[i, a] = 1 + solver.plies[tuple(cells[:a] + [1 - 2 * p] + cells[a + 1 :])]
    return out


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_solver_proof_depths_match_exact_minimax_with_depth(algorithm):
    """All 632 lost tic-tac-toe positions (of 4520): the move played is one that loses latest under
    exact minimax with depth, and every proven-lost root's depth is exact; a proven win's depth is
    never shorter than the exact quickest win (a proof is a real line of play), and equal under PUCT."""
    from rlmeta.agents.alphazero.evaluate import TicTacToeEvaluator
    from rlmeta.envs.board.solvers import tictactoe_solver

    ev, solver = TicTacToeEvaluator(), tictactoe_solver()
    cfg = SearchConfig(num_simulations=48, algorithm=algorithm, solver=True, gumbel_scale=0.0, max_considered=9)
    out = search(ev.game, ev.states, uniform_model, cfg)
    exact = torch.tensor([float(solver.plies[tuple(b)]) for b in ev.states.board.flatten(1).tolist()])
    proof, depth = out.tree.proven[:, ROOT_INDEX], out.tree.proof_depth[:, ROOT_INDEX]
    lost = ev.values < 0
    assert int(lost.sum()) == 632
    after = _tictactoe_plies_after_each_move(ev, solver)  # every move of a lost position loses
    latest = after.masked_fill(after.isinf(), -1).max(1).values
    assert torch.equal(after.gather(1, out.action[:, None])[lost, 0], latest[lost])
    proven_lost = proof < 0
    assert int(proven_lost.sum()) >= (632 if algorithm == "puct" else 600)  # measured 632 / 605
    assert torch.equal(depth[proven_lost], exact[proven_lost])
    proven_won = proof > 0
    assert int(proven_won.sum()) > 2700  # measured 2788 / 2775 of 2836
    assert bool((depth[proven_won] >= exact[proven_won]).all())
    if algorithm == "puct":
        assert torch.equal(depth[proven_won], exact[proven_won])
