"""Batched Monte Carlo tree search over exact simulators, in the style of mctx.

The whole batch of B games is searched at once. The tree is a set of preallocated tensors:

    node_visits   [B, N]      N(s): times a simulation passed through the node
    value_sums    [B, N]      sum of backed-up values, from the view of the node's player to move
    raw_values    [B, N]      evaluation at expansion (network / rollout mix / exact outcome)
    proven        [B, N]      +1 / -1: the node is a proven win / loss for its player to move
                              (terminal wins and losses; with `solver`, proofs backed up), else 0
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
its children, and backs up each simulation's path, recorded during selection, with one index_add_
per statistic (`backup_path`). On a CPU every op costs microseconds of dispatch whatever its size,
so ops per simulation are what counts; search(fast=False) is the per-level reference that
tests/test_mcts_fast.py checks this against, bit for bit.

Values are always from the perspective of the player to move at the node; a child's value is
negated for its parent when the player changed (two-player zero-sum). Comparing the stored
`player` instead of flipping once per ply also handles games where a side moves twice (passes).

One simulation = selection (descend by PUCT or Gumbel rules until an unexpanded action or a
terminal node) -> expansion (one `game.step` and ONE batched model call for all B games) ->
backup. Terminal nodes are valued by the exact outcome, never by the network.

Two root algorithms:
- "puct": AlphaZero (Silver et al. 2018): argmax Q + c(s) P sqrt(N(s)) / (1 + N(s,a)), with
  c(s) = c_init + log((N(s) + c_base + 1) / c_base) and Dirichlet noise on the root priors.
- "gumbel": Gumbel MuZero (Danihelka et al. 2022): Gumbel-top-k sampling of m root actions,
  sequential halving over the simulation budget, completed-Q policy targets
  softmax(logits + sigma(completed_q)) with sigma(q) = (c_visit + max_b N(b)) * c_scale * q,
  and the deterministic interior rule argmax(pi' - N(a) / (1 + sum N)).

Optional MCTS-Solver (Winands et al. 2008), `solver=True`: every expanded node is checked for a
move that wins on the spot (one batched `game.step` over its legal moves), which proves it won
and sets its value to +1 whatever its prior says; proofs are backed up (a node is won if some child
is lost for its mover, lost if every legal child is won for its mover); Q of a proven child is its
exact value, a simulation that reaches a proven node below the root stops there and backs up its
exact value (like a terminal node), and the move played is a proven win when there is one and
never a proven loss when some move is not. Draws are not proven. Each proof carries its depth in
plies (a won node: 1 + the shortest of its proven-lost children; a lost node: 1 + the longest of
its children), so among proven wins the quickest is played, and when every move is a proven loss
the one that loses latest (as exact solvers do: the opponent must still find the win). The depth
is the one of the proof found: a shorter win hidden in an unexplored part of a proven subtree is
not seen (simulations stop at proven nodes), so it is exact where the subtree is fully proven.

What mctx lacks: subtree reuse (`reuse_subtree`): after a move the chosen child's subtree becomes
the next root, with its statistics, because our simulators are exact.

Example:
    >>> from rlmeta.envs.board import make
    >>> game = make("tictactoe", 8, "cpu")
    >>> out = search(game, game.reset(), uniform_model, SearchConfig(num_simulations=64))
    >>> out.action.shape, out.policy.shape       # [8], [8, 9]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, NamedTuple, Optional

import torch

from rlmeta.envs.board.core import random_legal_action, where_state  # noqa: F401  (where_state: re-exported)

ROOT_INDEX = 0
UNVISITED = -1  # children[b, n, a] of an action never expanded
NO_PARENT = -1  # parents[b, ROOT_INDEX]
NEG = -1e9  # logit of an illegal action (finite: softmax over a terminal node stays NaN-free)

# (obs [B, C, H, W], legal [B, A]) -> (logits [B, A], value [B] for the player to move)
ModelFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class SearchConfig:
    """Search hyperparameters (defaults: AlphaZero PUCT)."""

    num_simulations: int = 64
    """Simulations per move (each is one batched model call)."""
    algorithm: str = "puct"
    """puct (AlphaZero + Dirichlet noise), gumbel (Gumbel MuZero) or uct (UCB1 with c_uct, every
    legal child tried once first: classic MCTS, for pure random-rollout players)."""
    c_uct: float = 2.0
    """UCT exploration constant: Q + c_uct * sqrt(ln N(s) / N(s, a)) (OpenSpiel's default 2)."""
    c_init: float = 1.25
    """PUCT exploration constant c_init (AlphaZero pseudocode: pb_c_init)."""
    c_base: float = 19652.0
    """PUCT c_base: c(s) grows as log((N(s) + c_base + 1) / c_base) for huge searches."""
    dirichlet_alpha: float = 0.3
    """Dirichlet noise concentration at the root (puct only; ~10 / typical number of legal moves)."""
    dirichlet_fraction: float = 0.0
    """Weight of the root Dirichlet noise (0 = none, 0.25 for AlphaZero self-play)."""
    max_considered: int = 16
    """Gumbel: m, root actions sampled by Gumbel-top-k and then halved."""
    gumbel_scale: float = 1.0
    """Gumbel: scale of the root Gumbel noise (0 = deterministic, for evaluation)."""
    c_visit: float = 50.0
    """Gumbel sigma(q) = (c_visit + max N) * c_scale * q (mctx maxvisit_init)."""
    c_scale: float = 0.1
    """Gumbel sigma(q) scale (mctx value_scale)."""
    rollout_weight: float = 0.0
    """lambda in V = (1 - lambda) v_net + lambda z_rollout (AlphaGo); 1 = pure rollouts."""
    max_rollout_moves: int = 512
    """Safety cap on moves in one rollout."""
    solver: bool = False
    """MCTS-Solver: back up proven wins/losses and never play a proven loss when a move is not
    one (see the module docstring); off = plain AlphaZero / Gumbel MuZero search."""

    def validate(self) -> None:
        from rlmeta.core.errors import ConfigError

        if self.num_simulations < 1:
            raise ConfigError(f"num_simulations must be >= 1, got {self.num_simulations}")
        if self.algorithm not in ("puct", "gumbel", "uct"):
            raise ConfigError(f"search algorithm must be puct, gumbel or uct, got {self.algorithm!r}")
        if not 0.0 <= self.rollout_weight <= 1.0:
            raise ConfigError(f"rollout_weight must be in [0, 1], got {self.rollout_weight}")
        if not 0.0 <= self.dirichlet_fraction <= 1.0:
            raise ConfigError(f"dirichlet_fraction must be in [0, 1], got {self.dirichlet_fraction}")
        if self.max_considered < 1:
            raise ConfigError(f"max_considered must be >= 1, got {self.max_considered}")


@dataclass
class Tree:
    """Search tree for B games; see the module docstring for shapes. Mutated in place."""

    node_visits: torch.Tensor
    value_sums: torch.Tensor
    raw_values: torch.Tensor
    proven: torch.Tensor
    proof_depth: torch.Tensor
    player: torch.Tensor
    terminal: torch.Tensor
    prior_logits: torch.Tensor
    legal: torch.Tensor
    children: torch.Tensor
    parents: torch.Tensor
    action_from_parent: torch.Tensor
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


class SearchOutput(NamedTuple):
    action: torch.Tensor  # [B] greedy (puct: most visited) / Gumbel-selected action
    policy: torch.Tensor  # [B, A] policy target (puct: visit shares; gumbel: completed-Q policy)
    visit_counts: torch.Tensor  # [B, A] root child visits (including any reused ones)
    root_value: torch.Tensor  # [B] mean value at the root, player to move's view
    qvalues: torch.Tensor  # [B, A] root Q (0 where unvisited)
    tree: Tree


# ---------------------------------------------------------------------- state helpers
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


def outcome_value(game: Any, state: Any) -> torch.Tensor:
    """Exact game result [B] from the view of state.player (+1 win, 0 draw, -1 loss; 0 if running)."""
    return game.rewards(state).float().gather(1, state.player.long()[:, None]).squeeze(1)


def mask_logits(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Illegal -> NEG and the max legal logit -> 0 (as mctx _mask_invalid_actions)."""
    logits = torch.where(legal, logits.float(), NEG)
    return logits - logits.max(dim=-1, keepdim=True).values.clamp(min=NEG / 2)


# ---------------------------------------------------------------------- models and rollouts
def uniform_model(obs: torch.Tensor, legal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform prior, value 0: with rollout_weight=1 this is plain UCT-style MCTS with rollouts."""
    return torch.zeros(legal.shape, device=legal.device), torch.zeros(legal.shape[0], device=legal.device)


def random_policy(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Rollout policy: uniform over legal moves (returns logits [B, A])."""
    return torch.zeros(legal.shape, device=legal.device)


def rollout(game: Any, state: Any, policy: Optional[Callable] = None, max_moves: int = 512,
            fast: bool = True) -> torch.Tensor:
    """Play every game in `state` to the end with `policy` ((obs, legal) -> logits; None = uniform
    random) and return the outcome z [B] from the view of the player to move in `state`.

    Finished games drop out of the batch once a share of it has finished (`playout_compact_share`
    of the game: a quarter; half on bitboards, where a row costs little next to the compaction), so
    the last plies of the longest games are not paid for by the whole batch. Uniform playouts run on the game's
    `playout_view` (Connect Four: bitboards, same rules, its own random draws); fast=False plays
    them on the game itself."""
    p0 = state.player.long()                                   # [B]
    rewards = game.rewards(state).float()                      # [B, 2] final once a game is over
    rows = torch.arange(p0.shape[0], device=p0.device)         # [n] original row of each live game
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


# ---------------------------------------------------------------------- tree construction
def empty_tree(game: Any, root_state: Any, capacity: int) -> Tree:
    """A tree of `capacity` nodes (+1 scratch) for B = root_state.player.shape[0] games, no node used."""
    B, A = root_state.player.shape[0], game.num_actions
    N = capacity + 1
    dev = root_state.player.device
    f = lambda *s: torch.zeros(*s, device=dev)  # noqa: E731
    states = map_state(lambda x: x[:, None].repeat(1, N, *([1] * (x.dim() - 1))).clone(), root_state)
    return Tree(
        node_visits=f(B, N), value_sums=f(B, N), raw_values=f(B, N), proven=f(B, N), proof_depth=f(B, N),
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
        return dst.copy_(torch.where(used.view(B, n + 1, *([1] * (dst.dim() - 2))), src[:, :n + 1], dst))

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


def immediate_wins(game: Any, state: Any, legal: torch.Tensor) -> torch.Tensor:
    """[B, A] bool: legal moves that end the game with a win for the player to move in `state`."""
    rows, actions = legal.nonzero(as_tuple=True)  # one game.step over every legal (row, move)
    out = torch.zeros_like(legal)
    if rows.numel():
        nxt = game.step(game.index(state, rows), actions, check=False)  # legal by construction
        mover = state.player.long()[rows]
        out[rows, actions] = nxt.terminal & (game.rewards(nxt).gather(1, mover[:, None]).squeeze(1) > 0)
    return out


def _write_node(tree: Tree, node: torch.Tensor, state: Any, logits, value, legal, parent, action,
                wins: Optional[torch.Tensor] = None) -> None:
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
            _update_proof(tree, n, valid)
        node = torch.where(valid, _at(tree.parents, n), NO_PARENT)


def _update_proof(tree: Tree, node: torch.Tensor, valid: torch.Tensor) -> None:
    """Proof of non-terminal `node` [B] (rows where valid) from its children: won if a legal child
    is lost for its mover, lost if every legal child is expanded and won for its mover. Depth: a
    win takes the quickest lost child (or an earlier, quicker proof: a win now), a loss the child
    whose win takes longest."""
    ch = _at(tree.children, node)  # [B, A]
    idx = ch.clamp(min=0)
    same = tree.player.gather(1, idx) == _at(tree.player, node)[:, None]
    child = tree.proven.gather(1, idx)
    v = torch.where(ch >= 0, torch.where(same, child, -child), 0.0)  # [B, A] from node's view
    depth = 1.0 + tree.proof_depth.gather(1, idx)                     # [B, A] plies through each child
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
    _put(tree.proof_depth, node, torch.where(update & won, win_depth, torch.where(update & lost, loss_depth, old_depth)))


def solver_action(tree: Tree, action: torch.Tensor, preference: torch.Tensor,
                  wins_now: Optional[torch.Tensor] = None) -> torch.Tensor:
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


# ---------------------------------------------------------------------- action selection
# `qv`: (q [B, A], child visits [B, A]) at `node` when the caller has them (the search's edge
# statistics); None reads them from the tree (Tree.qvalues), with the same numbers.
QV = Optional[tuple[torch.Tensor, torch.Tensor]]


def puct_scores(tree: Tree, node: torch.Tensor, cfg: SearchConfig,
                prior_logits: Optional[torch.Tensor] = None, qv: QV = None) -> torch.Tensor:
    """AlphaZero PUCT score [B, A] at `node` [B]; illegal actions -inf. Unvisited children have Q = 0."""
    logits = _at(tree.prior_logits, node) if prior_logits is None else prior_logits
    prior = torch.softmax(logits, dim=-1)
    q, visits = tree.qvalues(node) if qv is None else qv
    n_parent = _at(tree.node_visits, node)
    c = cfg.c_init + torch.log((n_parent + cfg.c_base + 1.0) / cfg.c_base)
    u = (c * n_parent.sqrt())[:, None] * prior / (1.0 + visits)
    return torch.where(_at(tree.legal, node), q + u, -math.inf)


def uct_scores(tree: Tree, node: torch.Tensor, cfg: SearchConfig, qv: QV = None) -> torch.Tensor:
    """UCB1 score [B, A]: Q + c_uct sqrt(ln N(s) / N(s, a)); unvisited legal children +inf (a tie
    broken by action id, as OpenSpiel's first-unvisited rule)."""
    q, visits = tree.qvalues(node) if qv is None else qv
    n_parent = _at(tree.node_visits, node).clamp(min=1.0)
    u = cfg.c_uct * torch.sqrt(torch.log(n_parent)[:, None] / visits.clamp(min=1.0))
    score = torch.where(visits > 0, q + u, math.inf)
    return torch.where(_at(tree.legal, node), score, -math.inf)


def completed_qvalues(tree: Tree, node: torch.Tensor, cfg: SearchConfig, qv: QV = None) -> torch.Tensor:
    """sigma(completed Q) [B, A] at `node` (mctx qtransform_completed_by_mix_value):
    unvisited actions get the mixed value v_mix = (v_raw + sum_b N(b) * sum_{N(a)>0} pi(a) q(a) /
    sum_{N(a)>0} pi(a)) / (1 + sum_b N(b)); then min-max rescale over the legal actions to [0, 1];
    then sigma(q) = (c_visit + max_b N(b)) * c_scale * q."""
    legal = _at(tree.legal, node)
    q, visits = tree.qvalues(node) if qv is None else qv
    prior = torch.softmax(_at(tree.prior_logits, node), dim=-1).clamp(min=torch.finfo(torch.float32).tiny)
    visited = visits > 0
    sum_n = visits.sum(-1)
    sum_p = torch.where(visited, prior, 0.0).sum(-1)
    weighted_q = torch.where(visited, prior * q, 0.0).sum(-1) / torch.where(sum_p > 0, sum_p, 1.0)
    v_mix = (_at(tree.raw_values, node) + sum_n * weighted_q) / (sum_n + 1.0)
    completed = torch.where(visited, q, v_mix[:, None])
    lo = torch.where(legal, completed, math.inf).min(-1, keepdim=True).values
    hi = torch.where(legal, completed, -math.inf).max(-1, keepdim=True).values
    lo, hi = torch.where(legal.any(-1, keepdim=True), lo, 0.0), torch.where(legal.any(-1, keepdim=True), hi, 0.0)
    completed = (completed - lo) / (hi - lo).clamp(min=1e-8)
    max_n = visits.max(-1, keepdim=True).values
    return (cfg.c_visit + max_n) * cfg.c_scale * completed


def gumbel_interior_scores(tree: Tree, node: torch.Tensor, cfg: SearchConfig, qv: QV = None) -> torch.Tensor:
    """Deterministic Gumbel MuZero interior rule: argmax pi'(a) - N(a) / (1 + sum_b N(b)),
    pi' = softmax(logits + sigma(completed Q))."""
    qv = tree.qvalues(node) if qv is None else qv
    legal = _at(tree.legal, node)
    probs = torch.softmax(_at(tree.prior_logits, node) + completed_qvalues(tree, node, cfg, qv), dim=-1)
    _, visits = qv
    return torch.where(legal, probs - visits / (1.0 + visits.sum(-1, keepdim=True)), -math.inf)


@lru_cache(maxsize=64)
def considered_visit_sequence(max_considered: int, num_simulations: int) -> tuple[int, ...]:
    """Sequential halving schedule (mctx get_sequence_of_considered_visits): entry k is the visit
    count a considered root action must have to be chosen by simulation k."""
    if max_considered <= 1:
        return tuple(range(num_simulations))
    log2max = math.ceil(math.log2(max_considered))
    seq: list[int] = []
    visits = [0] * max_considered
    m = max_considered
    while len(seq) < num_simulations:
        extra = max(1, int(num_simulations / (log2max * m)))
        for _ in range(extra):
            seq.extend(visits[:m])
            for i in range(m):
                visits[i] += 1
        m = max(2, m // 2)
    return tuple(seq[:num_simulations])


def considered_visit_table(max_considered: int, num_simulations: int, device) -> torch.Tensor:
    """[max_considered + 1, num_simulations + 1]: row m = schedule when m actions are considered
    (one extra column so a finished search can be indexed)."""
    rows = [list(considered_visit_sequence(m, num_simulations)) + [num_simulations]
            for m in range(max_considered + 1)]
    return torch.tensor(rows, dtype=torch.float32, device=device)


def gumbel_root_scores(tree: Tree, gumbel: torch.Tensor, search_visits: torch.Tensor, table: torch.Tensor,
                       cfg: SearchConfig, considered_visit: Optional[torch.Tensor] = None,
                       qv: QV = None) -> torch.Tensor:
    """Root score [B, A]: g + logits + sigma(completed Q) over the actions whose visits in this search
    equal the schedule's current target (sequential halving); -inf elsewhere."""
    root = torch.zeros(tree.batch_size, dtype=torch.long, device=gumbel.device)
    legal = tree.legal[:, ROOT_INDEX]
    logits = tree.prior_logits[:, ROOT_INDEX]
    if considered_visit is None:
        num_considered = legal.sum(-1).clamp(max=cfg.max_considered)
        sim = search_visits.sum(-1).long().clamp(max=table.shape[1] - 1)
        considered_visit = table[num_considered, sim]
    score = (gumbel + logits + completed_qvalues(tree, root, cfg, qv)).clamp(min=NEG)
    ok = legal & (search_visits == considered_visit[:, None])
    return torch.where(ok, score, -math.inf)


def _dirichlet_prior(logits: torch.Tensor, legal: torch.Tensor, cfg: SearchConfig) -> torch.Tensor:
    """Root logits with (1 - eps) P + eps Dir(alpha) mixed in over the legal actions."""
    alpha = torch.full(legal.shape, cfg.dirichlet_alpha, device=legal.device)
    g = torch._standard_gamma(alpha) * legal
    noise = g / g.sum(-1, keepdim=True).clamp(min=1e-12)
    p = (1 - cfg.dirichlet_fraction) * torch.softmax(logits, -1) + cfg.dirichlet_fraction * noise
    return torch.where(legal, p.clamp(min=1e-12).log(), NEG)


# ---------------------------------------------------------------------- edge statistics (fast path)
class Edges(NamedTuple):
    """Statistics of the edges (node, action), one contiguous row per node, which the search keeps
    next to the tree (mctx's children_visits / children_values): selection then reads two rows at
    a node instead of gathering five fields of its A children scattered over the tree. Derived from
    the tree (`edge_stats`) and kept equal to it by `backup_path`."""

    visits: torch.Tensor  # [B * N, A] N(s, a): the child's visits (0 where unexpanded)
    sums: torch.Tensor    # [B * N, A] the child's value sum from the view of the player at s


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


def backup_path(tree: Tree, edges: Edges, nodes: torch.Tensor, on_path: torch.Tensor, edge_parent: torch.Tensor,
                edge_action: torch.Tensor, edge_on: torch.Tensor, leaf: torch.Tensor, value: torch.Tensor,
                prove: bool = False) -> None:
    """`backup` of one simulation with its path known from the selection, all levels at once: one
    index_add_ per statistic instead of a loop up the parents. Each node on a path gets one
    addition, as in the loop, so the sums are the same bit for bit.

    nodes [B, K], on_path [B, K]: the nodes visited (off-path entries are ignored); edge_parent,
    edge_action, edge_on [B, K']: the edges taken; leaf [B] and value [B] as in `backup`."""
    B, N = tree.node_visits.shape
    A = tree.children.shape[2]
    base = (torch.arange(B, device=leaf.device) * N)[:, None]         # [B, 1] each row's node 0
    scratch = base + N - 1                                             # off-path entries add 0 here
    player = tree.player.view(-1)
    leaf_player = player[base[:, 0] + leaf][:, None]                   # [B, 1]

    flat = torch.where(on_path, base + nodes, scratch).flatten()       # [B * K]
    sign = torch.where(player[flat].view_as(nodes) == leaf_player, 1.0, -1.0)
    tree.node_visits.view(-1).index_add_(0, flat, on_path.flatten().float())
    tree.value_sums.view(-1).index_add_(0, flat, torch.where(on_path, sign * value[:, None], 0.0).flatten())

    parent = base + edge_parent                                        # [B, K'] the value from its view
    esign = torch.where(player[parent.flatten()].view_as(parent) == leaf_player, 1.0, -1.0)
    eflat = torch.where(edge_on, parent * A + edge_action, scratch * A).flatten()
    edges.visits.view(-1).index_add_(0, eflat, edge_on.flatten().float())
    edges.sums.view(-1).index_add_(0, eflat, torch.where(edge_on, esign * value[:, None], 0.0).flatten())
    if prove:  # proofs bottom-up, as the loop: each reads its children's updated proofs
        for k in reversed(range(nodes.shape[1])):
            _update_proof(tree, nodes[:, k], on_path[:, k])


# ---------------------------------------------------------------------- the search
@torch.no_grad()
def search(game: Any, root_state: Any, model: ModelFn, cfg: SearchConfig, tree: Optional[Tree] = None,
           rollout_policy: Optional[Callable] = None, fast: bool = True) -> SearchOutput:
    """Run cfg.num_simulations simulations for every game in root_state (B games).

    `tree`: a tree from `reuse_subtree` (rows with num_nodes == 0 start fresh from root_state; the
    others keep their statistics and get num_simulations more). Returns SearchOutput.
    `fast`: select with edge statistics and back up each path in one step (`Edges`,
    `backup_path`); False: read Q from the tree at every level and back up parent by parent,
    the reference the fast path is tested against (same trees, bit for bit).
    """
    B = root_state.player.shape[0]
    dev = root_state.player.device
    r = torch.arange(B, device=dev)
    kept = 0 if tree is None else int(tree.num_nodes.max())
    capacity = kept + cfg.num_simulations + 1
    tree = empty_tree(game, root_state, capacity) if tree is None else _pad_tree(tree, capacity, game, root_state)

    # root: one model call; written only for rows without a reused root
    fresh = tree.num_nodes == 0
    logits, value, legal, root_wins = _evaluate(game, root_state, model, cfg, rollout_policy)
    root = torch.where(fresh, ROOT_INDEX, tree.scratch)
    _write_node(tree, root, root_state, logits, value, legal, torch.full_like(root, NO_PARENT), torch.full_like(root, -1),
                root_wins)
    backup(tree, root, torch.where(fresh, value, 0.0))
    tree.node_visits[:, tree.scratch] = 0.0
    tree.num_nodes = torch.where(fresh, 1, tree.num_nodes)
    for fld in fields(Tree):  # flat index_copy_ / index_add_ writes need contiguous fields
        x = getattr(tree, fld.name)
        if isinstance(x, torch.Tensor) and not x.is_contiguous():
            setattr(tree, fld.name, x.contiguous())
    edges = None
    if fast:  # a fresh tree has no expanded edge (zeros: lazily zeroed pages, nothing to gather)
        rows = tree.children.shape[0] * tree.children.shape[1]
        edges = edge_stats(tree) if kept > 0 else Edges(*torch.zeros(2, rows, game.num_actions, device=dev))

    root_logits = tree.prior_logits[:, ROOT_INDEX]
    root_legal = tree.legal[:, ROOT_INDEX]
    if cfg.algorithm == "puct" and cfg.dirichlet_fraction > 0:
        root_logits = _dirichlet_prior(root_logits, root_legal, cfg)
    if cfg.algorithm == "gumbel":
        u = torch.rand(B, game.num_actions, device=dev).clamp(1e-20, 1.0)
        gumbel = cfg.gumbel_scale * -torch.log(-torch.log(u))
        table = considered_visit_table(cfg.max_considered, cfg.num_simulations, dev)
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
            qv = edge_qvalues(tree, edges, node, cfg.solver) if fast else None
            if cfg.algorithm == "uct":
                scores = uct_scores(tree, node, cfg, qv)
            elif depth == 0:
                if cfg.algorithm == "puct":
                    scores = puct_scores(tree, node, cfg, root_logits, qv)
                else:
                    scores = gumbel_root_scores(tree, gumbel, search_visits, table, cfg, qv=qv)
            elif cfg.algorithm == "puct":
                scores = puct_scores(tree, node, cfg, qv=qv)
            else:
                scores = gumbel_interior_scores(tree, node, cfg, qv)
            action = scores.argmax(-1)  # [B]
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

        # --- expansion: one game.step and one model call for the whole batch. check=False: every
        # score is -inf at illegal actions, so an expanding row plays a legal one; rows that expand
        # nothing are terminal (never checked) or a proven node (legal argmax), written to scratch
        parent_state = _gather_node_state(tree, leaf_parent)
        child_state = game.step(parent_state, leaf_action, check=False)
        logits, value, legal, wins = _evaluate(game, child_state, model, cfg, rollout_policy)
        new = torch.where(expand, tree.num_nodes, tree.scratch)
        _write_node(tree, new, child_state, logits, value, legal, leaf_parent, leaf_action, wins)
        edge = _flat(tree.children, leaf_parent) * tree.children.shape[2] + leaf_action  # [B] into children.view(-1)
        tree.children.view(-1)[edge] = torch.where(expand, new, tree.children.view(-1)[edge])
        tree.num_nodes = tree.num_nodes + expand.long()

        # --- backup: new leaf, or the terminal node that stopped the descent (exact value again)
        leaf = torch.where(expand, new, leaf_parent)
        proof = _at(tree.proven, leaf_parent)
        exact = torch.where(proof != 0, proof, _at(tree.raw_values, leaf_parent))
        leaf_value = torch.where(expand, value, exact)
        if fast:  # the path: the nodes selected, then the new leaf; the edges taken, then the new one
            edge_on = on_path[1:] + [expand]
            backup_path(tree, edges, torch.stack(path + [new], 1), torch.stack(on_path + [expand], 1),
                        torch.stack(edge_parent + [leaf_parent], 1), torch.stack(edge_action + [leaf_action], 1),
                        torch.stack(edge_on, 1), leaf, leaf_value, prove=cfg.solver)
        else:
            backup(tree, leaf, leaf_value, prove=cfg.solver)
        tree.node_visits[:, tree.scratch] = 0.0  # scratch is never part of a path; keep it clean

    # --- outputs
    root = torch.zeros(B, dtype=torch.long, device=dev)
    q, visits = tree.qvalues(root)
    if cfg.algorithm in ("puct", "uct"):
        policy = torch.where(root_legal, visits, 0.0)
        policy = policy / policy.sum(-1, keepdim=True).clamp(min=1.0)
        action = torch.where(root_legal, visits, -1.0).argmax(-1)
        preference = visits
    else:
        policy = torch.softmax(tree.prior_logits[:, ROOT_INDEX] + completed_qvalues(tree, root, cfg), -1)
        policy = torch.where(root_legal, policy, 0.0)
        scores = gumbel_root_scores(tree, gumbel, search_visits, table, cfg,
                                    considered_visit=search_visits.max(-1).values)
        action = scores.argmax(-1)
        preference = policy
    if cfg.solver:
        action = solver_action(tree, action, preference, root_wins)
    return SearchOutput(action, policy, visits, tree.node_value(root), q, tree)


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
        node_visits=take(tree.node_visits), value_sums=take(tree.value_sums), raw_values=take(tree.raw_values),
        proven=take(tree.proven), proof_depth=take(tree.proof_depth), player=take(tree.player),
        terminal=take(tree.terminal), prior_logits=take(tree.prior_logits),
        legal=take(tree.legal), children=remap(take(tree.children)), parents=remap(take(tree.parents)),
        action_from_parent=take(tree.action_from_parent), states=map_state(take, tree.states), num_nodes=count,
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
