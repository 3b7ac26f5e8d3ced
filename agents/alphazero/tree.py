"""The search tree of the batched MCTS, in the style of mctx (_src/tree.py): preallocated tensors
for B games, a node per slot, mutated in place by the search (agents/alphazero/search.py).

    node_visits   [B, N]      N(s): times a simulation passed through the node
    value_sums    [B, N]      sum of backed-up values, from the view of the node's player to move
    raw_values    [B, N]      evaluation at expansion (network / rollout mix / exact outcome)
    proven        [B, N]      +1 / -1: the node is a proven win / loss for its player to move
                              (terminal wins and losses; with the solver, proofs backed up), else 0
    proof_depth   [B, N]      where proven: plies to the end of the game along the proof (0 at a
                              terminal node, 1 for a move that wins now; shortest win, longest loss)
    player        [B, N]      player to move at the node (0/1)
    terminal      [B, N]      the node is a finished game
    prior_logits  [B, N, A]   network logits, illegal actions at NEG
    legal         [B, N, A]   legal actions
    children      [B, N, A]   child node index, UNVISITED if never expanded
    parents       [B, N]      parent node index, NO_PARENT at the root
    action_from_parent [B, N]
    states        the game's State NamedTuple with every field [B, N, ...]

N = capacity + 1: the last slot is SCRATCH, where rows that expand nothing in a simulation write
(so every write is one batched scatter with no boolean indexing, and works on GPU unchanged).

Next to the tree, the search keeps edge statistics [B * N, A] (`Edges`: each child's visits and
value sum seen from its parent, one contiguous row per node, as mctx's children_visits /
children_values), so that selection reads two rows at a node instead of gathering five fields of
its children.

Values are always from the perspective of the player to move at the node; a child's value is
negated for its parent when the player changed (two-player zero-sum). Comparing the stored
`player` instead of flipping once per ply also handles games where a side moves twice (passes).

What mctx lacks: subtree reuse (`reuse_subtree`): after a move the chosen child's subtree becomes
the next root, with its statistics, because our simulators are exact.

Example:
    >>> from rlmeta.envs.board import make
    >>> game = make("tictactoe", 8, "cpu")
    >>> tree = empty_tree(game, game.reset(), capacity=64)
    >>> tree.children.shape, int(tree.num_nodes.max())   # [8, 65, 9] (+1: scratch), 0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, NamedTuple, Optional

import torch

ROOT_INDEX = 0
UNVISITED = -1  # children[b, n, a] of an action never expanded
NO_PARENT = -1  # parents[b, ROOT_INDEX]
NEG = -1e9  # logit of an illegal action (finite: softmax over a terminal node stays NaN-free)


@dataclass
class Tree:
    """Search tree for B games; see the module docstring for shapes. Mutated in place."""

    node_visits: torch.Tensor  # [B, N] float
    value_sums: torch.Tensor  # [B, N] float, player to move's view
    raw_values: torch.Tensor  # [B, N] float
    proven: torch.Tensor  # [B, N] float: +1 / -1 / 0
    proof_depth: torch.Tensor  # [B, N] float: plies
    player: torch.Tensor  # [B, N] long
    terminal: torch.Tensor  # [B, N] bool
    prior_logits: torch.Tensor  # [B, N, A] float, NEG where illegal
    legal: torch.Tensor  # [B, N, A] bool
    children: torch.Tensor  # [B, N, A] long, UNVISITED where never expanded
    parents: torch.Tensor  # [B, N] long, NO_PARENT at the root
    action_from_parent: torch.Tensor  # [B, N] long, -1 at the root
    states: Any  # the game's State NamedTuple, every field [B, N, ...]
    num_nodes: torch.Tensor  # [B] next free node index

    @property
    def batch_size(self) -> int:
        return self.node_visits.shape[0]

    @property
    def scratch(self) -> int:
        return self.node_visits.shape[1] - 1

    def qvalues(self, node: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q(s, a) from the view of the player to move at `node` [B] -> (q [B, A], child visits [B, A]).
        A proven child's Q is its exact value (for terminal children the mean already is)."""
        ch = _at(self.children, node)  # [B, A]
        idx = ch.clamp(min=0)
        visits = torch.where(ch >= 0, self.node_visits.gather(1, idx), 0.0)
        mean = self.value_sums.gather(1, idx) / visits.clamp(min=1.0)
        proven = self.proven.gather(1, idx)
        mean = torch.where(proven != 0, proven, mean)
        same = self.player.gather(1, idx) == _at(self.player, node)[:, None]
        q = torch.where(same, mean, -mean)
        return torch.where(visits > 0, q, 0.0), visits

    def node_value(self, node: torch.Tensor) -> torch.Tensor:
        """Mean backed-up value of `node` [B] from its own player's view."""
        return _at(self.value_sums, node) / _at(self.node_visits, node).clamp(min=1.0)

    def state_dict(self) -> dict[str, Any]:
        """Every field as a tensor, the states as a dict by field name (plain containers, so a
        checkpoint holding it loads with torch.load(weights_only=True))."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["states"] = self.states._asdict()
        return d

    @classmethod
    def from_state_dict(cls, d: dict[str, Any], state_type: type, device: torch.device) -> Tree:
        states = state_type(**{k: v.to(device) for k, v in d["states"].items()})
        return cls(**{k: v.to(device) for k, v in d.items() if k != "states"}, states=states)


# ---------------------------------------------------------------------- indexing helpers
def _rows(x: torch.Tensor) -> torch.Tensor:
    return torch.arange(x.shape[0], device=x.device)


@lru_cache(maxsize=16)
def _row_starts(batch: int, n: int, device: torch.device) -> torch.Tensor:
    """[B] flat index of each row's node 0 in a [B * N, ...] view (cached: built once per shape)."""
    return n * torch.arange(batch, device=device)


def _flat(x: torch.Tensor, node: torch.Tensor) -> torch.Tensor:
    """Index [B] of (b, node[b]) in x [B, N, ...] viewed as [B * N, ...]."""
    return node + _row_starts(node.shape[0], x.shape[1], node.device)


def _at(x: torch.Tensor, node: torch.Tensor) -> torch.Tensor:
    """x[b, node[b]] for every row b: x [B, N, ...] -> [B, ...]. One index_select on the [B * N, ...]
    view: on a CPU, advanced indexing with two index tensors costs several times more."""
    return x.flatten(0, 1).index_select(0, _flat(x, node))


def _put(x: torch.Tensor, node: torch.Tensor, value: torch.Tensor) -> None:
    """x[b, node[b]] = value[b] for every row b (one index_copy_; rows write distinct slots)."""
    if not x.is_contiguous():  # a view: index_copy_ on a flattened copy would be lost
        x[_rows(node), node] = value.to(x.dtype)
        return
    B, item = node.shape[0], x[0, 0].numel()
    dst, src = x.view(-1, item), value.to(x.dtype).expand(B, *x.shape[2:]).reshape(B, item)
    if x.element_size() == 1 and item > 1:  # bytes (boards, masks): copy them as wider words, several times faster
        words = ((torch.int64, 8), (torch.int32, 4), (torch.int16, 2), (torch.uint8, 1))
        wide = next(dt for dt, n in words if item % n == 0)
        dst, src = dst.view(torch.uint8).view(wide), src.view(torch.uint8).view(wide)
    dst.index_copy_(0, _flat(x, node), src)


def _fill(x: torch.Tensor, node: torch.Tensor, value: float) -> None:
    """x[b, node[b]] = value for every row b (a Python number: no host-to-device copy on a GPU)."""
    if x.is_contiguous():
        x.view(node.shape[0] * x.shape[1], -1).index_fill_(0, _flat(x, node), value)
    else:
        x[_rows(node), node] = value


def map_state(fn: Callable[..., torch.Tensor], *states: Any) -> Any:
    """Apply fn field by field to one or more State NamedTuples of the same type."""
    return type(states[0])(*[fn(*xs) for xs in zip(*states)])


def _gather_node_state(tree: Tree, node: torch.Tensor) -> Any:
    return map_state(lambda x: _at(x, node), tree.states)


def mask_logits(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Illegal -> NEG and the max legal logit -> 0 (as mctx _mask_invalid_actions)."""
    logits = torch.where(legal, logits.float(), NEG)
    return logits - logits.max(dim=-1, keepdim=True).values.clamp(min=NEG / 2)


# ---------------------------------------------------------------------- allocation
def empty_tree(game: Any, root_state: Any, capacity: int) -> Tree:
    """A tree of `capacity` nodes (+1 scratch) for B = root_state.player.shape[0] games, no node used."""
    B, A = root_state.player.shape[0], game.num_actions
    N = capacity + 1
    dev = root_state.player.device
    f = lambda *s: torch.zeros(*s, device=dev)  # noqa: E731
    states = map_state(lambda x: x[:, None].repeat(1, N, *([1] * (x.dim() - 1))).clone(), root_state)
    return Tree(
        node_visits=f(B, N),
        value_sums=f(B, N),
        raw_values=f(B, N),
        proven=f(B, N),
        proof_depth=f(B, N),
        player=torch.zeros(B, N, dtype=torch.long, device=dev),
        terminal=torch.zeros(B, N, dtype=torch.bool, device=dev),
        prior_logits=torch.full((B, N, A), NEG, device=dev),
        legal=torch.zeros(B, N, A, dtype=torch.bool, device=dev),
        children=torch.full((B, N, A), UNVISITED, dtype=torch.long, device=dev),
        parents=torch.full((B, N), NO_PARENT, dtype=torch.long, device=dev),
        action_from_parent=torch.full((B, N), -1, dtype=torch.long, device=dev),
        states=states,
        num_nodes=torch.zeros(B, dtype=torch.long, device=dev),
    )


def compact_tree(tree: Tree, game: Any, root_state: Any) -> Tree:
    """`tree` cut to max(num_nodes) nodes (+1 scratch), every slot a row does not use as in a fresh
    tree: a canonical form that depends only on the nodes in use (their indices are kept, so the
    search continues from it exactly as from `tree`). For checkpoints."""
    B, n = tree.batch_size, int(tree.num_nodes.max())
    out = empty_tree(game, root_state, n)
    used = torch.arange(n + 1, device=tree.num_nodes.device)[None] < tree.num_nodes[:, None]  # [B, n + 1]

    def keep_used(dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        return dst.copy_(torch.where(used.view(B, n + 1, *([1] * (dst.dim() - 2))), src[:, : n + 1], dst))

    for fld in fields(Tree):
        if fld.name == "num_nodes":
            out.num_nodes = tree.num_nodes.clone()
        elif fld.name == "states":
            map_state(keep_used, out.states, tree.states)
        else:
            keep_used(getattr(out, fld.name), getattr(tree, fld.name))
    return out


def _pad_tree(tree: Tree, capacity: int, game: Any, root_state: Any) -> Tree:
    """Copy `tree` (without its scratch slot) into a fresh tree of `capacity` nodes."""
    old = tree.scratch
    if old == capacity:
        return tree
    new = empty_tree(game, root_state, capacity)
    k = min(old, capacity)
    for fld in fields(Tree):
        if fld.name in ("num_nodes",):
            continue
        src, dst = getattr(tree, fld.name), getattr(new, fld.name)
        if fld.name == "states":
            map_state(lambda d, s: d[:, :k].copy_(s[:, :k]), dst, src)
        else:
            dst[:, :k] = src[:, :k]
    new.num_nodes = tree.num_nodes.clamp(max=capacity)
    return new


def _write_node(
    tree: Tree,
    node: torch.Tensor,
    state: Any,
    logits,
    value,
    legal,
    parent,
    action,
    wins: Optional[torch.Tensor] = None,
) -> None:
    """Write a node's fields at index node [B] (the scratch slot for rows that expand nothing);
    `wins` [B, A]: moves that win now (the solver's check), which prove the node won."""
    _put(tree.raw_values, node, value)
    exact = state.terminal if wins is None else state.terminal | wins.any(-1)
    _put(tree.proven, node, torch.where(exact, value.sign(), 0.0))  # exact outcome / a win now: proven
    _put(tree.proof_depth, node, (~state.terminal).float())  # a finished game: 0 plies; a win now: 1
    _put(tree.player, node, state.player)
    _put(tree.terminal, node, state.terminal)
    _put(tree.prior_logits, node, logits)
    _put(tree.legal, node, legal)
    _fill(tree.children, node, UNVISITED)
    _put(tree.parents, node, parent)
    _put(tree.action_from_parent, node, action)
    _fill(tree.node_visits, node, 0.0)
    _fill(tree.value_sums, node, 0.0)
    map_state(lambda dst, src: _put(dst, node, src), tree.states, state)


# ---------------------------------------------------------------------- edge statistics
class Edges(NamedTuple):
    """Statistics of the edges (node, action), one contiguous row per node, which the search keeps
    next to the tree (mctx's children_visits / children_values): selection then reads two rows at
    a node instead of gathering five fields of its A children scattered over the tree. Derived from
    the tree (`edge_stats`) and kept equal to it by the search's `backup_path`."""

    visits: torch.Tensor  # [B * N, A] N(s, a): the child's visits (0 where unexpanded)
    sums: torch.Tensor  # [B * N, A] the child's value sum from the view of the player at s


def edge_stats(tree: Tree) -> Edges:
    """The edges of `tree` from its node statistics."""
    B, N, A = tree.children.shape
    ch = tree.children.reshape(B, N * A)
    idx = ch.clamp(min=0)
    expanded = ch >= 0
    same = (tree.player.gather(1, idx).view(B, N, A) == tree.player[:, :, None]).view(B, N * A)
    sums = tree.value_sums.gather(1, idx)
    visits = torch.where(expanded, tree.node_visits.gather(1, idx), 0.0)
    sums = torch.where(expanded, torch.where(same, sums, -sums), 0.0)
    return Edges(visits.view(B * N, A), sums.view(B * N, A))


def edge_qvalues(tree: Tree, edges: Edges, node: torch.Tensor, solver: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Tree.qvalues(node) from the edges: (q [B, A], visits [B, A]), the same numbers (a sum from
    the parent's view is the child's sum negated where the player changes, and negation is exact).
    Proven children: without the solver only terminal nodes are proven, and their mean is their
    exact value already; with it, proven values are read from the tree."""
    rows = _flat(tree.node_visits, node)
    visits = edges.visits.index_select(0, rows)
    q = edges.sums.index_select(0, rows) / visits.clamp(min=1.0)
    if solver:
        ch = _at(tree.children, node)
        idx = ch.clamp(min=0)
        proven = tree.proven.gather(1, idx)
        same = tree.player.gather(1, idx) == _at(tree.player, node)[:, None]
        q = torch.where((ch >= 0) & (proven != 0), torch.where(same, proven, -proven), q)
    return q, visits


# ---------------------------------------------------------------------- subtree reuse
def reuse_subtree(tree: Tree, action: torch.Tensor, keep: Optional[torch.Tensor] = None) -> Tree:
    """The subtree under the root's child `action` [B] as a new tree (node indices compacted, the
    child becomes ROOT_INDEX, all statistics kept). Rows where keep [B] is False, or where the child
    was never expanded, come back empty (num_nodes == 0) so `search` starts them fresh."""
    B, N = tree.node_visits.shape
    dev = action.device
    r = torch.arange(B, device=dev)
    child = tree.children[r, ROOT_INDEX, action]  # [B]
    if keep is not None:
        child = torch.where(keep, child, UNVISITED)
    # descendants of child (child included): walk every node's ancestor chain up to the root
    is_desc = torch.zeros(B, N, dtype=torch.bool, device=dev)
    anc = torch.arange(N, device=dev)[None].expand(B, N).clone()
    anc[:, -1] = NO_PARENT  # scratch slot
    in_use = torch.arange(N, device=dev)[None] < tree.num_nodes[:, None]
    anc = torch.where(in_use, anc, NO_PARENT)
    while bool((anc >= 0).any()):
        is_desc |= (anc == child[:, None]) & (child[:, None] >= 0)
        anc = torch.where(anc >= 0, tree.parents.gather(1, anc.clamp(min=0)), NO_PARENT)
    # kept nodes first, in their original (creation) order: parents still precede children
    order = torch.sort((~is_desc).to(torch.uint8), dim=1, stable=True).indices  # [B, N]
    new_index = torch.where(is_desc, is_desc.long().cumsum(1) - 1, UNVISITED)  # old -> new
    count = is_desc.sum(1)

    def take(x: torch.Tensor) -> torch.Tensor:
        idx = order.view(B, N, *([1] * (x.dim() - 2))).expand(B, N, *x.shape[2:])
        return x.gather(1, idx)

    remap = lambda ix: torch.where(ix >= 0, new_index.gather(1, ix.clamp(min=0).view(B, -1)).view(ix.shape), UNVISITED)  # noqa: E731
    out = Tree(
        node_visits=take(tree.node_visits),
        value_sums=take(tree.value_sums),
        raw_values=take(tree.raw_values),
        proven=take(tree.proven),
        proof_depth=take(tree.proof_depth),
        player=take(tree.player),
        terminal=take(tree.terminal),
        prior_logits=take(tree.prior_logits),
        legal=take(tree.legal),
        children=remap(take(tree.children)),
        parents=remap(take(tree.parents)),
        action_from_parent=take(tree.action_from_parent),
        states=map_state(take, tree.states),
        num_nodes=count,
    )
    out.parents[:, ROOT_INDEX] = NO_PARENT
    out.action_from_parent[:, ROOT_INDEX] = -1
    unused = torch.arange(N, device=dev)[None] >= count[:, None]  # clear the tail
    out.node_visits[unused] = 0.0
    out.value_sums[unused] = 0.0
    out.proven[unused] = 0.0
    out.proof_depth[unused] = 0.0
    out.children[unused] = UNVISITED
    out.parents[unused] = NO_PARENT
    return out
