"""Selection rules of the batched MCTS: the score [B, A] of every action at one node [B] of each
game's tree; the search plays its argmax. Illegal actions score -inf.

- "puct": AlphaZero (Silver et al. 2018): argmax Q + c(s) P sqrt(N(s)) / (1 + N(s,a)), with
  c(s) = c_init + log((N(s) + c_base + 1) / c_base) and Dirichlet noise on the root priors
  (`puct_scores`, `dirichlet_prior`).
- "gumbel": Gumbel MuZero (Danihelka et al. 2022): Gumbel-top-k sampling of m root actions,
  sequential halving over the simulation budget (`gumbel_root_scores`,
  `considered_visit_sequence`), completed-Q policy targets softmax(logits + sigma(completed_q))
  with sigma(q) = (c_visit + max_b N(b)) * c_scale * q (`completed_qvalues`), and the
  deterministic interior rule argmax(pi' - N(a) / (1 + sum N)) (`gumbel_interior_scores`).
- "uct": UCB1 (`uct_scores`), every legal child tried once first: classic MCTS, for pure
  random-rollout players.

Example:
    >>> from rlmeta.agents.alphazero.search import search, uniform_model
    >>> from rlmeta.envs.board import make
    >>> game = make("tictactoe", 8, "cpu")
    >>> out = search(game, game.reset(), uniform_model, SearchConfig(num_simulations=16))
    >>> root = torch.zeros(8, dtype=torch.long)
    >>> puct_scores(out.tree, root, SearchConfig()).shape       # [8, 9]
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

import torch

from rlmeta.agents.alphazero.config import SearchConfig
from rlmeta.agents.alphazero.tree import NEG, ROOT_INDEX, Tree, _at

# `qv`: (q [B, A], child visits [B, A]) at `node` when the caller has them (the search's edge
# statistics); None reads them from the tree (Tree.qvalues), with the same numbers.
QV = Optional[tuple[torch.Tensor, torch.Tensor]]


def puct_scores(
    tree: Tree, node: torch.Tensor, cfg: SearchConfig, prior_logits: Optional[torch.Tensor] = None, qv: QV = None
) -> torch.Tensor:
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
    rows = [list(considered_visit_sequence(m, num_simulations)) + [num_simulations] for m in range(max_considered + 1)]
    return torch.tensor(rows, dtype=torch.float32, device=device)


def gumbel_root_scores(
    tree: Tree,
    gumbel: torch.Tensor,
    search_visits: torch.Tensor,
    table: torch.Tensor,
    cfg: SearchConfig,
    considered_visit: Optional[torch.Tensor] = None,
    qv: QV = None,
) -> torch.Tensor:
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


def dirichlet_prior(logits: torch.Tensor, legal: torch.Tensor, cfg: SearchConfig) -> torch.Tensor:
    """Root logits with (1 - eps) P + eps Dir(alpha) mixed in over the legal actions."""
    alpha = torch.full(legal.shape, cfg.dirichlet_alpha, device=legal.device)
    g = torch._standard_gamma(alpha) * legal
    noise = g / g.sum(-1, keepdim=True).clamp(min=1e-12)
    p = (1 - cfg.dirichlet_fraction) * torch.softmax(logits, -1) + cfg.dirichlet_fraction * noise
    return torch.where(legal, p.clamp(min=1e-12).log(), NEG)
