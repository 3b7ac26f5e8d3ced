"""Batched Monte Carlo tree search over exact simulators, in the style of mctx (_src/search.py).

The whole batch of B games is searched at once, on the preallocated tree of tree.py ([B, N] and
[B, N, A] tensors, named sentinels ROOT_INDEX / UNVISITED / NO_PARENT, a SCRATCH slot). One
simulation = selection (descend by the rules of selection.py: PUCT, Gumbel MuZero or UCT, until
an unexpanded action or a terminal node) -> expansion (one `game.step` and ONE batched model call
for all B games) -> backup. Terminal nodes are valued by the exact outcome, never by the network;
with `SearchConfig(solver=True)`, proven wins and losses are backed up too (solver.py).

Selection reads the edge statistics kept next to the tree (`Edges`), and each simulation's path,
recorded during selection, is backed up with one index_add_ per statistic (`backup_path`). On a
CPU every op costs microseconds of dispatch whatever its size, so ops per simulation are what
counts; tests/mcts_reference.py keeps the per-level reference (Q read from the tree at every level,
backup parent by parent) that tests/test_mcts_fast.py checks this search against, bit for bit.

The model is passed in as a function (obs, legal) -> (logits, value) (`ModelFn`; network.model_fn
wraps a PolicyValueNet); `rollout_weight` mixes random playouts into the leaf value (AlphaGo).

The names of config.py, tree.py, selection.py and solver.py are importable from here too, as
they were when all of the search lived in this one module.

Example:
    >>> from rlmeta.envs.board import make
    >>> game = make("tictactoe", 8, "cpu")
    >>> out = search(game, game.reset(), uniform_model, SearchConfig(num_simulations=64))
    >>> out.action.shape, out.policy.shape       # [8], [8, 9]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields
from typing import Any, NamedTuple, Optional

import torch

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.selection import (  # noqa: F401  (re-exported: their old home)
    QV,
    completed_qvalues,
    considered_visit_sequence,
    considered_visit_table,
    dirichlet_prior,
    gumbel_interior_scores,
    gumbel_root_scores,
    puct_scores,
    uct_scores,
)
from rlmeta.agents.alphazero.solver import immediate_wins, solver_action, update_proof
from rlmeta.agents.alphazero.tree import (  # noqa: F401  (re-exported: their old home)
    NEG,
    NO_PARENT,
    ROOT_INDEX,
    UNVISITED,
    Edges,
    Tree,
    _at,
    _flat,
    _gather_node_state,
    _pad_tree,
    _put,
    _write_node,
    compact_tree,
    edge_qvalues,
    edge_stats,
    empty_tree,
    map_state,
    mask_logits,
    reuse_subtree,
)
from rlmeta.envs.board.core import random_legal_action, where_state  # noqa: F401  (where_state: re-exported)

# (obs [B, C, H, W], legal [B, A]) -> (logits [B, A], value [B] for the player to move)
ModelFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class SearchOutput(NamedTuple):
    action: torch.Tensor  # [B] greedy (puct: most visited) / Gumbel-selected action
    policy: torch.Tensor  # [B, A] policy target (puct: visit shares; gumbel: completed-Q policy)
    visit_counts: torch.Tensor  # [B, A] root child visits (including any reused ones)
    root_value: torch.Tensor  # [B] mean value at the root, player to move's view
    qvalues: torch.Tensor  # [B, A] root Q (0 where unvisited)
    tree: Tree


def outcome_value(game: Any, state: Any) -> torch.Tensor:
    """Exact game result [B] from the view of state.player (+1 win, 0 draw, -1 loss; 0 if running)."""
    return game.rewards(state).float().gather(1, state.player.long()[:, None]).squeeze(1)


# ---------------------------------------------------------------------- models and rollouts
def uniform_model(obs: torch.Tensor, legal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform prior, value 0: with rollout_weight=1 this is plain UCT-style MCTS with rollouts."""
    return torch.zeros(legal.shape, device=legal.device), torch.zeros(legal.shape[0], device=legal.device)


def random_policy(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Rollout policy: uniform over legal moves (returns logits [B, A])."""
    return torch.zeros(legal.shape, device=legal.device)


def rollout(
    game: Any, state: Any, policy: Optional[Callable] = None, max_moves: int = 512, fast: bool = True
) -> torch.Tensor:
    """Play every game in `state` to the end with `policy` ((obs, legal) -> logits; None = uniform
    random) and return the outcome z [B] from the view of the player to move in `state`.

    Finished games drop out of the batch once a share of it has finished (`playout_compact_share`
    of the game: a quarter; half on bitboards, where a row costs little next to the compaction), so
    the last plies of the longest games are not paid for by the whole batch. Uniform playouts run on the game's
    `playout_view` (Connect Four: bitboards, same rules, its own random draws); fast=False plays
    them on the game itself."""
    p0 = state.player.long()  # [B]
    rewards = game.rewards(state).float()  # [B, 2] final once a game is over
    rows = torch.arange(p0.shape[0], device=p0.device)  # [n] original row of each live game
    s, sim = game.playout_view(state) if policy is None and fast else (state, game)
    for _ in range(max_moves):
        done = s.terminal
        n_done = int(done.sum())
        if n_done == done.shape[0]:
            break
        if n_done >= sim.playout_compact_share * done.shape[0]:  # compact: keep the live games only
            live = ~done
            rewards[rows[done]] = sim.rewards(sim.index(s, done)).float()
            rows, s = rows[live], sim.index(s, live)
        if policy is None:  # uniform among legal moves
            a = sim.random_action(s)
        else:
            legal = game.legal_mask(s)
            logits = torch.where(legal, policy(game.observation(s), legal).float(), -math.inf)
            g = -torch.log(-torch.log(torch.rand(legal.shape, device=legal.device).clamp(1e-20, 1.0)))
            a = torch.where(legal.any(1), (logits + g).argmax(1), 0)
        s = sim.step(s, a, check=False)  # legal by construction; finished games keep their result
    rewards[rows] = sim.rewards(s).float()
    return rewards.gather(1, p0[:, None]).squeeze(1)


# ---------------------------------------------------------------------- evaluation and backup
def _evaluate(game: Any, state: Any, model: ModelFn, cfg: SearchConfig, rollout_policy: Optional[Callable]):
    """-> (masked logits [B, A], value [B], legal [B, A], wins [B, A] or None); exact outcome on
    terminal states; with cfg.solver, `wins` are the moves that win now and value is +1 where any does."""
    legal = game.legal_mask(state)
    if model is uniform_model:  # skip building observations nobody reads
        logits, value = uniform_model(None, legal)
    else:
        logits, value = model(game.observation(state), legal)
        logits, value = logits.float(), value.float().reshape(-1)
    if cfg.rollout_weight > 0.0:
        z = rollout(game, state, rollout_policy, cfg.max_rollout_moves)
        value = (1.0 - cfg.rollout_weight) * value + cfg.rollout_weight * z
    value = torch.where(state.terminal, outcome_value(game, state), value)
    wins = None
    if cfg.solver:
        wins = immediate_wins(game, state, legal)
        value = torch.where(wins.any(-1), 1.0, value)
    return mask_logits(logits, legal), value, legal, wins


def backup(tree: Tree, leaf: torch.Tensor, value: torch.Tensor, prove: bool = False) -> None:
    """Add one visit and `value` [B] (from the view of the player to move at `leaf` [B]) to every
    node on the path leaf -> root, negated at nodes whose player to move differs from the leaf's.
    prove: also update each ancestor's proof from its children (MCTS-Solver)."""
    leaf_player = _at(tree.player, leaf)
    node = leaf.clone()
    while True:
        valid = node >= 0
        if not bool(valid.any()):
            break
        n = node.clamp(min=0)
        sign = torch.where(_at(tree.player, n) == leaf_player, 1.0, -1.0)
        _put(tree.node_visits, n, _at(tree.node_visits, n) + valid.float())
        _put(tree.value_sums, n, _at(tree.value_sums, n) + torch.where(valid, sign * value, 0.0))
        if prove:
            update_proof(tree, n, valid)
        node = torch.where(valid, _at(tree.parents, n), NO_PARENT)


def backup_path(
    tree: Tree,
    edges: Edges,
    nodes: torch.Tensor,
    on_path: torch.Tensor,
    edge_parent: torch.Tensor,
    edge_action: torch.Tensor,
    edge_on: torch.Tensor,
    leaf: torch.Tensor,
    value: torch.Tensor,
    prove: bool = False,
) -> None:
    """`backup` of one simulation with its path known from the selection, all levels at once: one
    index_add_ per statistic instead of a loop up the parents. Each node on a path gets one
    addition, as in the loop, so the sums are the same bit for bit.

    nodes [B, K], on_path [B, K]: the nodes visited (off-path entries are ignored); edge_parent,
    edge_action, edge_on [B, K']: the edges taken; leaf [B] and value [B] as in `backup`."""
    B, N = tree.node_visits.shape
    A = tree.children.shape[2]
    base = (torch.arange(B, device=leaf.device) * N)[:, None]  # [B, 1] each row's node 0
    scratch = base + N - 1  # off-path entries add 0 here
    player = tree.player.view(-1)
    leaf_player = player[base[:, 0] + leaf][:, None]  # [B, 1]

    flat = torch.where(on_path, base + nodes, scratch).flatten()  # [B * K]
    sign = torch.where(player[flat].view_as(nodes) == leaf_player, 1.0, -1.0)
    tree.node_visits.view(-1).index_add_(0, flat, on_path.flatten().float())
    tree.value_sums.view(-1).index_add_(0, flat, torch.where(on_path, sign * value[:, None], 0.0).flatten())

    parent = base + edge_parent  # [B, K'] the value from its view
    esign = torch.where(player[parent.flatten()].view_as(parent) == leaf_player, 1.0, -1.0)
    eflat = torch.where(edge_on, parent * A + edge_action, scratch * A).flatten()
    edges.visits.view(-1).index_add_(0, eflat, edge_on.flatten().float())
    edges.sums.view(-1).index_add_(0, eflat, torch.where(edge_on, esign * value[:, None], 0.0).flatten())
    if prove:  # proofs bottom-up, as the loop: each reads its children's updated proofs
        for k in reversed(range(nodes.shape[1])):
            update_proof(tree, nodes[:, k], on_path[:, k])


# ---------------------------------------------------------------------- the search
class _Root(NamedTuple):
    """What a search fixes before its simulations (`_start`)."""

    tree: Tree
    kept: int  # max nodes reused from a previous search (0: a fresh tree)
    logits: torch.Tensor  # [B, A] root prior logits (puct: Dirichlet noise mixed in)
    legal: torch.Tensor  # [B, A]
    wins: Optional[torch.Tensor]  # [B, A] root moves that win now (solver), else None
    gumbel: Optional[torch.Tensor]  # [B, A] root Gumbel noise (gumbel), else None
    table: Optional[torch.Tensor]  # sequential halving visit table (gumbel), else None


def _start(
    game: Any,
    root_state: Any,
    model: ModelFn,
    cfg: SearchConfig,
    tree: Optional[Tree],
    rollout_policy: Optional[Callable],
) -> _Root:
    """The tree sized for this search, its root evaluated (one model call; written only for rows
    without a reused root), and the root's noise drawn."""
    B = root_state.player.shape[0]
    dev = root_state.player.device
    kept = 0 if tree is None else int(tree.num_nodes.max())
    capacity = kept + cfg.num_simulations + 1
    tree = empty_tree(game, root_state, capacity) if tree is None else _pad_tree(tree, capacity, game, root_state)

    fresh = tree.num_nodes == 0
    logits, value, legal, root_wins = _evaluate(game, root_state, model, cfg, rollout_policy)
    root = torch.where(fresh, ROOT_INDEX, tree.scratch)
    _write_node(
        tree,
        root,
        root_state,
        logits,
        value,
        legal,
        torch.full_like(root, NO_PARENT),
        torch.full_like(root, -1),
        root_wins,
    )
    backup(tree, root, torch.where(fresh, value, 0.0))
    tree.node_visits[:, tree.scratch] = 0.0
    tree.num_nodes = torch.where(fresh, 1, tree.num_nodes)
    for fld in fields(Tree):  # flat index_copy_ / index_add_ writes need contiguous fields
        x = getattr(tree, fld.name)
        if isinstance(x, torch.Tensor) and not x.is_contiguous():
            setattr(tree, fld.name, x.contiguous())

    root_logits = tree.prior_logits[:, ROOT_INDEX]
    root_legal = tree.legal[:, ROOT_INDEX]
    if cfg.algorithm == "puct" and cfg.dirichlet_fraction > 0:
        root_logits = dirichlet_prior(root_logits, root_legal, cfg)
    gumbel = table = None
    if cfg.algorithm == "gumbel":
        u = torch.rand(B, game.num_actions, device=dev).clamp(1e-20, 1.0)
        gumbel = cfg.gumbel_scale * -torch.log(-torch.log(u))
        table = considered_visit_table(cfg.max_considered, cfg.num_simulations, dev)
    return _Root(tree, kept, root_logits, root_legal, root_wins, gumbel, table)


def _scores(
    tree: Tree,
    node: torch.Tensor,
    depth: int,
    cfg: SearchConfig,
    root: _Root,
    search_visits: torch.Tensor,
    qv: QV = None,
) -> torch.Tensor:
    """The selection rule's scores [B, A] at `node` [B], `depth` plies below the root."""
    if cfg.algorithm == "uct":
        return uct_scores(tree, node, cfg, qv)
    if depth == 0:
        if cfg.algorithm == "puct":
            return puct_scores(tree, node, cfg, root.logits, qv)
        return gumbel_root_scores(tree, root.gumbel, search_visits, root.table, cfg, qv=qv)
    if cfg.algorithm == "puct":
        return puct_scores(tree, node, cfg, qv=qv)
    return gumbel_interior_scores(tree, node, cfg, qv)


def _expand(
    game: Any,
    tree: Tree,
    model: ModelFn,
    cfg: SearchConfig,
    rollout_policy: Optional[Callable],
    leaf_parent: torch.Tensor,
    leaf_action: torch.Tensor,
    expand: torch.Tensor,
):
    """Expansion: one game.step and one model call for the whole batch. check=False: every score
    is -inf at illegal actions, so an expanding row plays a legal one; rows that expand nothing are
    terminal (never checked) or a proven node (legal argmax), written to scratch.
    -> (new [B]: the node written, leaf [B]: the node to back up from, leaf_value [B]: its value,
    the new leaf's evaluation or the exact value of the terminal / proven node that stopped the
    descent)."""
    parent_state = _gather_node_state(tree, leaf_parent)
    child_state = game.step(parent_state, leaf_action, check=False)
    logits, value, legal, wins = _evaluate(game, child_state, model, cfg, rollout_policy)
    new = torch.where(expand, tree.num_nodes, tree.scratch)
    _write_node(tree, new, child_state, logits, value, legal, leaf_parent, leaf_action, wins)
    edge = _flat(tree.children, leaf_parent) * tree.children.shape[2] + leaf_action  # [B] into children.view(-1)
    tree.children.view(-1)[edge] = torch.where(expand, new, tree.children.view(-1)[edge])
    tree.num_nodes = tree.num_nodes + expand.long()

    leaf = torch.where(expand, new, leaf_parent)
    proof = _at(tree.proven, leaf_parent)
    exact = torch.where(proof != 0, proof, _at(tree.raw_values, leaf_parent))
    return new, leaf, torch.where(expand, value, exact)


def _finish(tree: Tree, cfg: SearchConfig, root: _Root, search_visits: torch.Tensor) -> SearchOutput:
    """The search's outputs from the root's statistics."""
    node = torch.zeros(tree.batch_size, dtype=torch.long, device=search_visits.device)
    q, visits = tree.qvalues(node)
    if cfg.algorithm in ("puct", "uct"):
        policy = torch.where(root.legal, visits, 0.0)
        policy = policy / policy.sum(-1, keepdim=True).clamp(min=1.0)
        action = torch.where(root.legal, visits, -1.0).argmax(-1)
        preference = visits
    else:
        policy = torch.softmax(tree.prior_logits[:, ROOT_INDEX] + completed_qvalues(tree, node, cfg), -1)
        policy = torch.where(root.legal, policy, 0.0)
        scores = gumbel_root_scores(
            tree, root.gumbel, search_visits, root.table, cfg, considered_visit=search_visits.max(-1).values
        )
        action = scores.argmax(-1)
        preference = policy
    if cfg.solver:
        action = solver_action(tree, action, preference, root.wins)
    return SearchOutput(action, policy, visits, tree.node_value(node), q, tree)


@torch.no_grad()
def search(
    game: Any,
    root_state: Any,
    model: ModelFn,
    cfg: SearchConfig,
    tree: Optional[Tree] = None,
    rollout_policy: Optional[Callable] = None,
) -> SearchOutput:
    """Run cfg.num_simulations simulations for every game in root_state (B games).

    `tree`: a tree from `reuse_subtree` (rows with num_nodes == 0 start fresh from root_state; the
    others keep their statistics and get num_simulations more). Returns SearchOutput.
    """
    B = root_state.player.shape[0]
    dev = root_state.player.device
    r = torch.arange(B, device=dev)
    root = _start(game, root_state, model, cfg, tree, rollout_policy)
    tree = root.tree
    # edge statistics: a fresh tree has no expanded edge (zeros: lazily zeroed pages, nothing to gather)
    rows = tree.children.shape[0] * tree.children.shape[1]
    edges = edge_stats(tree) if root.kept > 0 else Edges(*torch.zeros(2, rows, game.num_actions, device=dev))
    search_visits = torch.zeros(B, game.num_actions, device=dev)  # root child visits made by THIS search

    for _ in range(cfg.num_simulations):
        # --- selection: descend while the node is non-terminal and the chosen child exists
        node = torch.zeros(B, dtype=torch.long, device=dev)
        active = torch.ones(B, dtype=torch.bool, device=dev)
        leaf_parent = torch.zeros_like(node)
        leaf_action = torch.zeros_like(node)
        expand = torch.zeros_like(active)
        path, on_path, edge_parent, edge_action = [], [], [], []  # per depth, [B] each
        depth = 0
        while True:
            qv = edge_qvalues(tree, edges, node, cfg.solver)
            action = _scores(tree, node, depth, cfg, root, search_visits, qv).argmax(-1)  # [B]
            if depth == 0:
                search_visits[r, action] += (~tree.terminal[:, ROOT_INDEX]).float()
            child = tree.children.view(-1)[_flat(tree.children, node) * tree.children.shape[2] + action]
            term = _at(tree.terminal, node)
            if cfg.solver and depth > 0:  # a proven node below the root is a leaf with its exact value
                term = term | (_at(tree.proven, node) != 0)
            path.append(node)
            on_path.append(active)
            stop = active & (term | (child == UNVISITED))
            leaf_parent = torch.where(stop, node, leaf_parent)
            leaf_action = torch.where(stop, action, leaf_action)
            expand = expand | (stop & ~term)
            active = active & ~stop
            if not bool(active.any()):
                break
            edge_parent.append(node)
            edge_action.append(action)
            node = torch.where(active, child, node)
            depth += 1

        # --- expansion and evaluation
        new, leaf, leaf_value = _expand(game, tree, model, cfg, rollout_policy, leaf_parent, leaf_action, expand)

        # --- backup: the path is the nodes selected, then the new leaf; the edges taken, then the new one
        edge_on = on_path[1:] + [expand]
        backup_path(
            tree,
            edges,
            torch.stack(path + [new], 1),
            torch.stack(on_path + [expand], 1),
            torch.stack(edge_parent + [leaf_parent], 1),
            torch.stack(edge_action + [leaf_action], 1),
            torch.stack(edge_on, 1),
            leaf,
            leaf_value,
            prove=cfg.solver,
        )
        tree.node_visits[:, tree.scratch] = 0.0  # scratch is never part of a path; keep it clean

    return _finish(tree, cfg, root, search_visits)
