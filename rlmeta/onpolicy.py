"""What VPG, TRPO and PPO share: config fields, actor/critic/collector construction, the value
loss and the full-batch critic fit. Each algorithm file then only holds its policy update."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlmeta.agent import Agent
from rlmeta.buffers import RolloutBatch
from rlmeta.config import RunConfig
from rlmeta.errors import ConfigError
from rlmeta.networks import Critic, GaussianActor
from rlmeta.optim import FlatAdam
from rlmeta.rollout import OnPolicyCollector
from rlmeta.vec_env import VecEnv


@dataclass
class OnPolicyConfig(RunConfig):
    """Fields of every on-policy agent (defaults: Spinning Up's benchmark settings)."""

    num_envs: int = 4
    """Parallel environments."""
    num_steps: int = 1000
    """Steps per env per iteration; the batch is num_steps * num_envs (Spinning Up: 4000 per epoch)."""
    hidden_sizes: tuple[int, ...] = (64, 32)
    """Hidden layer sizes of actor and critic."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu or elu."""
    ortho_init: bool = False
    """Orthogonal initialisation (policy head gain 0.01) instead of torch's default."""
    log_std_init: float = -0.5
    """Initial log standard deviation of the Gaussian policy."""
    critic_lr: float = 1e-3
    """Adam learning rate of the value function."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.97
    """GAE lambda."""
    norm_adv: bool = True
    """Normalise advantages (per minibatch) before the policy update."""

    def validate(self) -> None:
        super().validate()
        self._check(num_steps=self.num_steps > 0, gamma=0 <= self.gamma <= 1, gae_lambda=0 <= self.gae_lambda <= 1,
                    critic_lr=self.critic_lr > 0, hidden_sizes=len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0)
        if self.activation not in ("tanh", "relu", "elu"):
            raise ConfigError(f"--activation must be tanh, relu or elu, got {self.activation!r}")

    def _check(self, **ok: bool) -> None:
        """Raise a one-line ConfigError for the first field whose check is False."""
        for name, good in ok.items():
            if not good:
                raise ConfigError(f"--{name.replace('_', '-')}: invalid value {getattr(self, name)!r}")


def value_loss(critic: Critic, b: RolloutBatch, clip_coef: float = 0.0):
    """0.5 * E[(V(s) - R)^2]; with clip_coef > 0 clipped around the old prediction (PPO2).
    -> (loss, metrics as 0-dim tensors: no host sync, and torch.compile keeps one graph)"""
    v = critic(b.obs)  # [B]
    err = (v - b.returns).pow(2)
    if clip_coef > 0:
        v_clipped = b.values + (v - b.values).clamp(-clip_coef, clip_coef)
        err = torch.max(err, (v_clipped - b.returns).pow(2))
    loss = 0.5 * err.mean()
    return loss, {"losses/value_loss": loss.detach()}


def to_floats(metrics: dict) -> dict[str, float]:
    """Tensor (or float) metrics -> floats for the logger: the one host sync, once per iteration."""
    return {k: float(v) for k, v in metrics.items()}


def normalized(adv: torch.Tensor) -> torch.Tensor:
    return (adv - adv.mean()) / (adv.std() + 1e-8)


class OnPolicyAgent(Agent):
    """Builds actor, critic (+ FlatAdam), and the collector; subclasses write `iteration()`."""

    Config = OnPolicyConfig
    lr_fields = {"critic_lr": "critic_opt"}

    def __init__(self, cfg: OnPolicyConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        obs_dim = envs.single_observation_space.shape[0]
        act_dim = envs.single_action_space.shape[0]
        self.actor = GaussianActor(obs_dim, act_dim, cfg.hidden_sizes, cfg.activation, cfg.log_std_init,
                                   cfg.ortho_init).to(device)
        self.critic = Critic(obs_dim, cfg.hidden_sizes, cfg.activation, cfg.ortho_init).to(device)
        # capturable on CUDA and when compiling: learning rate and step count live on the device as
        # tensors (no host syncs, CUDA graphs, no recompiles as the rate anneals)
        self.critic_opt = FlatAdam(self.critic.parameters(), lr=cfg.critic_lr, eps=1e-5,
                                   capturable=device.type == "cuda" or getattr(cfg, "compile", False))
        self.collector = OnPolicyCollector(envs, cfg.num_steps, device, cfg.gamma)

    @property
    def steps_per_iteration(self) -> int:
        return self.cfg.num_steps * self.cfg.num_envs

    def collect(self) -> RolloutBatch:
        """One batch of T * N transitions with GAE advantages; advances global_step."""
        # no-grad forwards without module dispatch (rlmeta/networks.py): numpy ones on the all-CPU path
        # (float-tolerance equal to the modules), torch ones elsewhere (bitwise the modules')
        if self.collector.host:
            policy, value = self.actor.numpy_sampler(), self.critic.numpy_value()
        else:
            policy, value = self.actor.fast_sampler(), self.critic.fast_value()
        batch = self.collector.collect(policy, value, self.cfg.gae_lambda)
        self.global_step += self.steps_per_iteration
        return batch

    def fit_critic(self, batch: RolloutBatch, iters: int) -> dict[str, float]:
        """Spinning Up's value fit: `iters` full-batch Adam steps on the returns."""
        metrics: dict[str, torch.Tensor] = {}
        for _ in range(iters):
            loss, metrics = value_loss(self.critic, batch)
            self.critic_opt.minimize(loss)
        return to_floats(metrics)

    def batch_metrics(self, batch: RolloutBatch) -> dict[str, float]:
        """Explained variance of the old values and the episodes that ended in this batch."""
        y, v = batch.returns, batch.values
        out = {"losses/explained_variance": float(1 - torch.var(y - v) / (torch.var(y) + 1e-8))}
        out.update(self.collector.stats.pop())
        return out

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.actor.act(torch.as_tensor(obs, device=self.device), deterministic).cpu().numpy()
