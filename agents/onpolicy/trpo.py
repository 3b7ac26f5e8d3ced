"""Trust Region Policy Optimization (Schulman et al. 2015), as in Spinning Up (TF1 defaults).

The policy step is the natural gradient x = F^-1 g, found by conjugate gradient on Fisher-vector
products (Hessian of the mean KL), scaled to the trust region sqrt(2 delta / x^T F x), then
backtracked until the surrogate improves and KL(old || new) <= delta.

Example:
    rlmeta train trpo --env Hopper-v5 --total-steps 1000000 --run-dir runs/trpo-hop
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlmeta.agents.onpolicy.base import OnPolicyAgent, OnPolicyConfig, normalized
from rlmeta.core.buffers import RolloutBatch
from rlmeta.core.natural_gradient import backtracking_line_search, conjugate_gradient, fisher_vector_product, flat_grad
from rlmeta.core.networks import GaussianActor


@dataclass
class TRPOConfig(OnPolicyConfig):
    """TRPO hyperparameters (defaults: Spinning Up's TF1 TRPO with its benchmark network)."""

    preset: str = "spinningup"
    """Named preset: spinningup (or a .json/.yaml file)."""
    max_kl: float = 0.01
    """Trust-region radius delta: the largest mean KL(old || new) a step may take."""
    damping: float = 0.1
    """Damping added to the Fisher matrix (F + damping I) for a stable CG solve."""
    cg_iters: int = 10
    """Conjugate-gradient iterations."""
    backtrack_iters: int = 10
    """Line-search steps before the update is rejected."""
    backtrack_coef: float = 0.8
    """Step shrink factor per line-search step."""
    critic_iters: int = 80
    """Full-batch value-function steps per iteration."""

    def validate(self) -> None:
        super().validate()
        self._check(
            max_kl=self.max_kl > 0,
            damping=self.damping >= 0,
            cg_iters=self.cg_iters > 0,
            backtrack_iters=self.backtrack_iters > 0,
            backtrack_coef=0 < self.backtrack_coef < 1,
            critic_iters=self.critic_iters > 0,
        )

    @classmethod
    def presets(cls) -> dict[str, TRPOConfig]:
        return {"spinningup": cls()}


def surrogate_loss(actor: GaussianActor, b: RolloutBatch, adv: torch.Tensor):
    """-E[pi(a|s) / pi_old(a|s) * A]: equals the policy-gradient loss at pi = pi_old.  -> (loss, metrics)"""
    logp, entropy = actor.log_prob_entropy(b.obs, b.actions)
    loss = -(torch.exp(logp - b.logprobs) * adv).mean()
    return loss, {"losses/policy_loss": loss.item(), "losses/entropy": entropy.mean().item()}


def mean_kl(actor: GaussianActor, obs: torch.Tensor, old: tuple[torch.Tensor, ...]):
    """Mean KL(pi_old || pi) over the batch; pi_old's parameters (actor.dist_params) are constants:
    a Gaussian's (mean, log_std) or a categorical's logits."""
    return actor.kl(obs, old).mean()


def trpo_step(actor: GaussianActor, b: RolloutBatch, cfg: TRPOConfig, extra_loss=None) -> dict[str, float]:
    """One natural-gradient step with line search on `actor` (in place). -> metrics"""
    adv = normalized(b.advantages) if cfg.norm_adv else b.advantages
    params = list(actor.parameters())
    with torch.no_grad():  # a snapshot: log_std comes back as a view of the live parameter
        old = tuple(t.clone() for t in actor.dist_params(b.obs))

    def loss_fn() -> torch.Tensor:
        loss = surrogate_loss(actor, b, adv)[0]
        return loss + extra_loss(b)[0] if extra_loss is not None else loss

    kl_fn = lambda: mean_kl(actor, b.obs, old)  # noqa: E731
    loss, metrics = surrogate_loss(actor, b, adv)
    if extra_loss is not None:
        extra, em = extra_loss(b)
        loss = loss + extra
        metrics.update(em)
    g = flat_grad(loss, params)  # [P]
    fvp = fisher_vector_product(kl_fn, params, cfg.damping)
    x = conjugate_gradient(fvp, g, cfg.cg_iters)  # x ~ F^-1 g
    xFx = x.dot(fvp(x)).clamp_min(1e-12)
    step = -torch.sqrt(2 * cfg.max_kl / xFx) * x
    accepted, j = backtracking_line_search(
        actor, step, loss_fn, kl_fn, cfg.max_kl, cfg.backtrack_coef, cfg.backtrack_iters
    )
    with torch.no_grad():
        metrics["losses/approx_kl"] = kl_fn().item()
    metrics["losses/backtrack_iters"] = float(j)
    metrics["losses/step_accepted"] = float(accepted)
    return metrics


class TRPO(OnPolicyAgent):
    algo = "trpo"
    Config = TRPOConfig

    def iteration(self) -> dict[str, float]:
        batch = self.collect()
        metrics = trpo_step(self.actor, batch, self.cfg, self.extra_loss if self.extra_losses else None)
        metrics.update(self.fit_critic(batch, self.cfg.critic_iters))
        metrics.update(self.batch_metrics(batch))
        return metrics
