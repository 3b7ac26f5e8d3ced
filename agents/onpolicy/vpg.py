"""Vanilla Policy Gradient (REINFORCE with a learned GAE baseline), as in Spinning Up.

One full-batch policy-gradient step per iteration, then `critic_iters` value-function steps.

Example:
    rlmeta train vpg --env HalfCheetah-v5 --total-steps 1000000 --run-dir runs/vpg-hc
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from rlmeta.agents.onpolicy.base import OnPolicyAgent, OnPolicyConfig, normalized
from rlmeta.core.buffers import RolloutBatch
from rlmeta.core.networks import GaussianActor
from rlmeta.core.optim import FlatAdam
from rlmeta.core.vec_env import VecEnv


@dataclass
class VPGConfig(OnPolicyConfig):
    """VPG hyperparameters (defaults: Spinning Up's PyTorch VPG with its benchmark network)."""

    preset: str = "spinningup"
    """Named preset: spinningup (or a .json/.yaml file)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the policy (one step per iteration)."""
    critic_iters: int = 80
    """Full-batch value-function steps per iteration."""

    def validate(self) -> None:
        super().validate()
        self._check(actor_lr=self.actor_lr > 0, critic_iters=self.critic_iters > 0)

    @classmethod
    def presets(cls) -> dict[str, VPGConfig]:
        return {"spinningup": cls()}


def policy_gradient_loss(actor: GaussianActor, b: RolloutBatch, norm_adv: bool):
    """-E[log pi(a|s) A(s,a)]: its gradient is the policy gradient.  -> (loss, metrics)"""
    logp, entropy = actor.log_prob_entropy(b.obs, b.actions)  # [B], [B]
    adv = normalized(b.advantages) if norm_adv else b.advantages
    loss = -(logp * adv).mean()
    return loss, {"losses/policy_loss": loss.item(), "losses/entropy": entropy.mean().item()}


class VPG(OnPolicyAgent):
    algo = "vpg"
    Config = VPGConfig
    lr_fields: ClassVar[dict[str, str]] = {"actor_lr": "actor_opt", "critic_lr": "critic_opt"}

    def __init__(self, cfg: VPGConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        self.actor_opt = FlatAdam(self.actor.parameters(), lr=cfg.actor_lr)

    def iteration(self) -> dict[str, float]:
        batch = self.collect()
        loss, metrics = policy_gradient_loss(self.actor, batch, self.cfg.norm_adv)
        extra, em = self.extra_loss(batch)
        self.actor_opt.minimize(loss + extra)
        metrics.update(em)
        with torch.no_grad():  # how far the one step moved the policy (Spinning Up logs the same)
            metrics["losses/approx_kl"] = (
                (batch.logprobs - self.actor.log_prob_entropy(batch.obs, batch.actions)[0]).mean().item()
            )
        metrics.update(self.fit_critic(batch, self.cfg.critic_iters))
        metrics.update(self.batch_metrics(batch))
        return metrics
