"""The per-level reference of the batched search (agents/alphazero/search.py), for the tests only.

`reference_search` runs the same simulations as `search` the plain way: at every level of the
descent Q is read from the tree's node statistics (Tree.qvalues, no edge statistics), and each
simulation is backed up parent by parent up the tree (`backup`), not along its recorded path in
one step (`backup_path`). The root set-up, expansion and outputs are the library's own, so the two
differ exactly in what the fast path replaced; tests/test_mcts_fast.py checks that they build the
same trees and outputs, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import torch

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.search import ModelFn, SearchOutput, _expand, _finish, _scores, _start, backup
from rlmeta.agents.alphazero.tree import ROOT_INDEX, UNVISITED, Tree, _at


@torch.no_grad()
def reference_search(
    game: Any,
    root_state: Any,
    model: ModelFn,
    cfg: SearchConfig,
    tree: Optional[Tree] = None,
    rollout_policy: Optional[Callable] = None,
) -> SearchOutput:
    """`search` with Q read from the tree at every level and backups parent by parent."""
    B = root_state.player.shape[0]
    dev = root_state.player.device
    r = torch.arange(B, device=dev)
    root = _start(game, root_state, model, cfg, tree, rollout_policy)
    tree = root.tree
    search_visits = torch.zeros(B, game.num_actions, device=dev)  # [B, A] root child visits of this search

    for _ in range(cfg.num_simulations):
        node = torch.zeros(B, dtype=torch.long, device=dev)
        active = torch.ones(B, dtype=torch.bool, device=dev)
        leaf_parent = torch.zeros_like(node)
        leaf_action = torch.zeros_like(node)
        expand = torch.zeros_like(active)
        depth = 0
        while True:  # descend while the node is non-terminal and the chosen child exists
            action = _scores(tree, node, depth, cfg, root, search_visits).argmax(-1)  # [B]
            if depth == 0:
                search_visits[r, action] += (~tree.terminal[:, ROOT_INDEX]).float()
            child = tree.children[r, node, action]
            term = _at(tree.terminal, node)
            if cfg.solver and depth > 0:  # a proven node below the root is a leaf with its exact value
                term = term | (_at(tree.proven, node) != 0)
            stop = active & (term | (child == UNVISITED))
            leaf_parent = torch.where(stop, node, leaf_parent)
            leaf_action = torch.where(stop, action, leaf_action)
            expand = expand | (stop & ~term)
            active = active & ~stop
            if not bool(active.any()):
                break
            node = torch.where(active, child, node)
            depth += 1

        _, leaf, leaf_value = _expand(game, tree, model, cfg, rollout_policy, leaf_parent, leaf_action, expand)
        backup(tree, leaf, leaf_value, prove=cfg.solver)
        tree.node_visits[:, tree.scratch] = 0.0  # scratch is never part of a path; keep it clean

    return _finish(tree, cfg, root, search_visits)
