"""MCTS-Solver (Winands et al. 2008) for the batched search (`SearchConfig(solver=True)`).

Every expanded node is checked for a move that wins on the spot (`immediate_wins`: one batched
`game.step` over its legal moves), which proves it won and sets its value to +1 whatever its prior
says; proofs are backed up (`update_proof`: a node is won if some child is lost for its mover, lost
if every legal child is won for its mover); Q of a proven child is its exact value, a simulation
that reaches a proven node below the root stops there and backs up its exact value (like a terminal
node), and the move played is a proven win when there is one and never a proven loss when some move
is not (`solver_action`). Draws are not proven. Each proof carries its depth in plies (a won node:
1 + the shortest of its proven-lost children; a lost node: 1 + the longest of its children), so
among proven wins the quickest is played, and when every move is a proven loss the one that loses
latest (as exact solvers do: the opponent must still find the win). The depth is the one of the
proof found: a shorter win hidden in an unexplored part of a proven subtree is not seen
(simulations stop at proven nodes), so it is exact where the subtree is fully proven.

Example:
    >>> from rlmeta.envs.board import make
    >>> game = make("connect4", 1, "cpu")
    >>> s = game.from_moves(["445566"])     # first player to move: column 3 or 7 completes a row
    >>> immediate_wins(game, s, game.legal_mask(s))[0].nonzero().flatten().tolist()   # [2, 6]
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch

from rlmeta.agents.alphazero.tree import ROOT_INDEX, Tree, _at, _put


def immediate_wins(game: Any, state: Any, legal: torch.Tensor) -> torch.Tensor:
    """[B, A] bool: legal moves that end the game with a win for the player to move in `state`."""
    rows, actions = legal.nonzero(as_tuple=True)  # one game.step over every legal (row, move)
    out = torch.zeros_like(legal)
    if rows.numel():
        nxt = game.step(game.index(state, rows), actions, check=False)  # legal by construction
        mover = state.player.long()[rows]
        out[rows, actions] = nxt.terminal & (game.rewards(nxt).gather(1, mover[:, None]).squeeze(1) > 0)
    return out


def update_proof(tree: Tree, node: torch.Tensor, valid: torch.Tensor) -> None:
    """Proof of non-terminal `node` [B] (rows where valid) from its children: won if a legal child
    is lost for its mover, lost if every legal child is expanded and won for its mover. Depth: a
    win takes the quickest lost child (or an earlier, quicker proof: a win now), a loss the child
    whose win takes longest."""
    ch = _at(tree.children, node)  # [B, A]
    idx = ch.clamp(min=0)
    same = tree.player.gather(1, idx) == _at(tree.player, node)[:, None]
    child = tree.proven.gather(1, idx)
    v = torch.where(ch >= 0, torch.where(same, child, -child), 0.0)  # [B, A] from node's view
    depth = 1.0 + tree.proof_depth.gather(1, idx)  # [B, A] plies through each child
    legal = _at(tree.legal, node)
    winning = legal & (v > 0)
    won = winning.any(-1)
    lost = legal.any(-1) & (~legal | (v < 0)).all(-1)
    update = valid & ~_at(tree.terminal, node)
    old, old_depth = _at(tree.proven, node), _at(tree.proof_depth, node)
    win_depth = torch.where(winning, depth, math.inf).min(-1).values
    win_depth = torch.where(old > 0, torch.minimum(win_depth, old_depth), win_depth)
    loss_depth = torch.where(legal, depth, 0.0).max(-1).values
    _put(tree.proven, node, torch.where(update & won, 1.0, torch.where(update & lost, -1.0, old)))
    _put(
        tree.proof_depth, node, torch.where(update & won, win_depth, torch.where(update & lost, loss_depth, old_depth))
    )


def solver_action(
    tree: Tree, action: torch.Tensor, preference: torch.Tensor, wins_now: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """The root move [B] with proofs respected: a move that wins now (wins_now [B, A]), else the
    quickest proven win when there is one; else `action` unless it is a proven loss: then the
    best-ranked move that is not one, or, when every move is a proven loss, the one that loses
    latest (the opponent still has to find the win). Ties go to what `preference` [B, A] ranks
    highest."""
    root = torch.zeros_like(action)
    q, _ = tree.qvalues(root)
    ch = tree.children[:, ROOT_INDEX]
    legal = tree.legal[:, ROOT_INDEX]
    proven_child = torch.where(ch >= 0, tree.proven.gather(1, ch.clamp(min=0)), 0.0) != 0
    depth = tree.proof_depth.gather(1, ch.clamp(min=0))  # [B, A] plies after the move, along its proof
    win = legal & proven_child & (q > 0)
    loss = legal & proven_child & (q < 0)
    safe = legal & ~loss
    pref = torch.where(legal, preference.float(), -math.inf)

    def best(mask: torch.Tensor) -> torch.Tensor:  # [B] the most preferred action of mask [B, A]
        return torch.where(mask, pref, -math.inf).argmax(-1)

    quickest_win = win & (depth == torch.where(win, depth, math.inf).min(-1, keepdim=True).values)
    latest_loss = loss & (depth == torch.where(loss, depth, -math.inf).max(-1, keepdim=True).values)
    played_loses = loss.gather(1, action[:, None]).squeeze(1)
    action = torch.where(played_loses, torch.where(safe.any(-1), best(safe), best(latest_loss)), action)
    action = torch.where(win.any(-1), best(quickest_win), action)
    if wins_now is not None:
        action = torch.where(wins_now.any(-1), best(wins_now), action)
    return action
