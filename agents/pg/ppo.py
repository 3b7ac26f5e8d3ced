"""Proximal Policy Optimization (Schulman et al. 2017), continuous actions.

Reads top to bottom: config -> losses -> agent (collect with GAE, then epochs of minibatch updates).
Two presets:
- `cleanrl` (default): CleanRL's ppo_continuous_action.py settings (obs/reward normalisation,
  2048 steps, 10 epochs x 32 minibatches, lr annealing, 64x64 tanh, orthogonal init).
- `spinningup`: Spinning Up's PyTorch PPO (4000 steps per epoch, 80 full-batch iterations for pi
  and for v, early stop at 1.5 x target_kl, (64,32) tanh, no normalisation), the protocol behind
  the reference curves in benchmarks/reference/.

Example:
    rlmeta train ppo --env Hopper-v5 --preset spinningup --total-steps 1000000 --run-dir runs/ppo-hop
"""

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
class PPOConfig(RunConfig):
    """PPO hyperparameters (defaults: the cleanrl preset)."""

    preset: str = "cleanrl"
    """Named preset that sets the defaults below: cleanrl or spinningup (or a .json/.yaml file)."""
    num_envs: int = 1
    """Parallel environments."""
    num_steps: int = 2048
    """Steps per env per iteration; the batch is num_steps * num_envs."""
    normalize_obs: bool = True
    """Normalise observations with running statistics."""
    normalize_reward: bool = True
    """Scale rewards by the running std of the discounted return."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of actor and critic."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu or elu."""
    ortho_init: bool = True
    """Orthogonal initialisation (policy head gain 0.01)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy."""
    actor_lr: float = 3e-4
    """Adam learning rate of the policy."""
    critic_lr: float = 3e-4
    """Adam learning rate of the value function."""
    anneal_lr: bool = True
    """Decay both learning rates linearly to 0 over total_steps."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    update_epochs: int = 10
    """Passes over each batch."""
    num_minibatches: int = 32
    """Minibatches per pass (1 = full-batch updates, as Spinning Up)."""
    clip_coef: float = 0.2
    """Policy ratio clip range epsilon."""
    clip_vloss: bool = True
    """Clip the value update around the old value prediction (PPO2 style)."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Clip each network's gradient norm to this (0 disables)."""
    target_kl: float = 0.0
    """Stop *policy* updates in an iteration once approx KL > 1.5 * target_kl (0 disables);
    value updates continue, as in Spinning Up."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""

    def validate(self) -> None:
        super().validate()
        checks = {
            "num_steps": self.num_steps > 0, "update_epochs": self.update_epochs > 0,
            "num_minibatches": 0 < self.num_minibatches <= self.num_steps * self.num_envs,
            "gamma": 0 <= self.gamma <= 1, "gae_lambda": 0 <= self.gae_lambda <= 1,
            "clip_coef": self.clip_coef > 0, "actor_lr": self.actor_lr > 0, "critic_lr": self.critic_lr > 0,
            "target_kl": self.target_kl >= 0, "max_grad_norm": self.max_grad_norm >= 0,
            "hidden_sizes": len(self.hidden_sizes) > 0 and min(self.hidden_sizes) > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"--{name.replace('_', '-')}: invalid value {getattr(self, name)!r}")
        if self.activation not in ("tanh", "relu", "elu"):
            raise ConfigError(f"--activation must be tanh, relu or elu, got {self.activation!r}")

    @classmethod
    def presets(cls) -> dict[str, "PPOConfig"]:
        return {
            "cleanrl": cls(),
            "spinningup": cls(
                preset="spinningup", num_envs=4, num_steps=1000, normalize_obs=False, normalize_reward=False,
                hidden_sizes=(64, 32), ortho_init=False, log_std_init=-0.5, actor_lr=3e-4, critic_lr=1e-3,
                anneal_lr=False, gae_lambda=0.97, update_epochs=80, num_minibatches=1, clip_vloss=False,
                vf_coef=1.0, max_grad_norm=0.0, target_kl=0.01,
            ),
        }


# ---------------------------------------------------------------------- losses
def policy_loss(actor: GaussianActor, b: RolloutBatch, clip_coef: float, ent_coef: float, norm_adv: bool):
    """Clipped surrogate: -E[min(r A, clip(r, 1-eps, 1+eps) A)] - ent_coef * H.  -> (loss, metrics)"""
    logp, entropy = actor.log_prob_entropy(b.obs, b.actions)  # [B], [B]
    log_ratio = logp - b.logprobs
    ratio = log_ratio.exp()
    adv = b.advantages
    if norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip_coef, 1 + clip_coef) * adv)
    loss = -surrogate.mean() - ent_coef * entropy.mean()
    with torch.no_grad():
        # k3 estimator of KL(old || new): unbiased, always >= 0 (Schulman, "Approximating KL")
        approx_kl = ((ratio - 1) - log_ratio).mean().item()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean().item()
    return loss, {"losses/policy_loss": loss.item(), "losses/entropy": entropy.mean().item(),
                  "losses/approx_kl": approx_kl, "losses/clipfrac": clipfrac}


def value_loss(critic: Critic, b: RolloutBatch, clip_coef: float, clip_vloss: bool):
    """0.5 * E[(V(s) - R)^2], optionally clipped around the old prediction.  -> (loss, metrics)"""
    v = critic(b.obs)  # [B]
    err = (v - b.returns).pow(2)
    if clip_vloss:
        v_clipped = b.values + (v - b.values).clamp(-clip_coef, clip_coef)
        err = torch.max(err, (v_clipped - b.returns).pow(2))
    loss = 0.5 * err.mean()
    return loss, {"losses/value_loss": loss.item()}


# ---------------------------------------------------------------------- agent
class PPO(Agent):
    algo = "ppo"
    Config = PPOConfig

    def __init__(self, cfg: PPOConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        obs_dim = envs.single_observation_space.shape[0]
        act_dim = envs.single_action_space.shape[0]
        self.actor = GaussianActor(obs_dim, act_dim, cfg.hidden_sizes, cfg.activation, cfg.log_std_init,
                                   cfg.ortho_init).to(device)
        self.critic = Critic(obs_dim, cfg.hidden_sizes, cfg.activation, cfg.ortho_init).to(device)
        # FlatAdam == torch Adam numerically, with one fused step per network (rlmeta/optim.py)
        self.actor_opt = FlatAdam(self.actor.parameters(), lr=cfg.actor_lr, eps=1e-5)
        self.critic_opt = FlatAdam(self.critic.parameters(), lr=cfg.critic_lr, eps=1e-5)
        self.collector = OnPolicyCollector(envs, cfg.num_steps, device, cfg.gamma)

    def iteration(self) -> dict[str, float]:
        cfg = self.cfg
        if cfg.anneal_lr:
            frac = max(1.0 - self.global_step / cfg.total_steps, 0.0)
            self.actor_opt.lr = frac * cfg.actor_lr
            self.critic_opt.lr = frac * cfg.critic_lr

        batch = self.collector.collect(self.actor.sample, self.critic, cfg.gae_lambda)  # B = T * N
        self.global_step += cfg.num_steps * cfg.num_envs

        B = batch.obs.shape[0]
        mb_size = B // cfg.num_minibatches
        pi_active, pi_updates = True, 0
        metrics: dict[str, float] = {}
        for _ in range(cfg.update_epochs):
            for idx in torch.randperm(B, device=self.device).split(mb_size):
                mb = RolloutBatch(*(x[idx] for x in batch))
                if pi_active:
                    loss, pm = policy_loss(self.actor, mb, cfg.clip_coef, cfg.ent_coef, cfg.norm_adv)
                    # Spinning Up: check the KL *before* stepping; the policy stops, the critic goes on
                    if cfg.target_kl > 0 and pm["losses/approx_kl"] > 1.5 * cfg.target_kl:
                        pi_active = False
                    else:
                        extra, em = self.extra_loss(mb)
                        self.actor_opt.minimize(loss + extra, cfg.max_grad_norm)
                        pi_updates += 1
                        metrics.update(pm)
                        metrics.update(em)
                vloss, vm = value_loss(self.critic, mb, cfg.clip_coef, cfg.clip_vloss)
                self.critic_opt.minimize(cfg.vf_coef * vloss, cfg.max_grad_norm)
                metrics.update(vm)

        y, v = batch.returns, batch.values
        metrics["losses/explained_variance"] = float(1 - torch.var(y - v) / (torch.var(y) + 1e-8))
        metrics["losses/policy_updates"] = float(pi_updates)
        metrics["charts/learning_rate"] = self.actor_opt.lr
        metrics.update(self.collector.stats.pop())
        return metrics

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.actor.act(torch.as_tensor(obs, device=self.device), deterministic).cpu().numpy()
