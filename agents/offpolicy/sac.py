"""Soft Actor-Critic (Haarnoja et al. 2018; automatic entropy tuning from Haarnoja et al. 2018b).

Reads top to bottom: config -> losses -> agent. The replay buffer, target networks, polyak update,
collection loop and test episodes are shared with DDPG/TD3 (agents/offpolicy/base.py).

- Policy: tanh-squashed Gaussian; log pi(a|s) includes the tanh log-det correction
  (rlmeta.core.distributions.tanh_squash_log_prob). Test episodes use tanh(mean).
- Twin critics (clipped double-Q) as one batched ensemble: both Q-nets cost one call.
- Temperature alpha: fixed, or tuned so the policy entropy tracks target_entropy (-act_dim).

Presets:
- `spinningup` (default): Spinning Up's PyTorch SAC: (256,256) relu, lr 1e-3, batch 100, fixed
  alpha 0.2, 10k uniform-random start steps, 50 updates every 50 steps, polyak 0.995. Default
  because it has the best published 1M-step results of the settings on offer (HalfCheetah 11.5k /
  Hopper 3.5k in Spinning Up's benchmark, against 9.6k / 2.3k for CleanRL and SB3-zoo), it is the
  protocol of the reference curves in benchmarks/, and its batch of 100 makes it the cheaper one.
- `sb3`: SB3's SAC defaults: lr 3e-4 everywhere, batch 256, tau 0.005, automatic alpha (initial
  1.0), one update per env step; with CleanRL's learning_starts 5000 (SB3's default of 100 is
  meant for quick tests).
- `gpu`: parallel worlds on one GPU after FastSAC (the FastTD3 authors' SAC variant, settings from
  younggyoseo/FastTD3 fast_sac/hyperparams.py, which are FastTD3's): 1024 mujoco-warp worlds, batch
  32768, 2 updates per vector step as --utd-ratio, observation normalisation, tau 0.1, bigger
  networks, CUDA-graph updates; each choice and its reason at rlmeta.agents.offpolicy.base.GPU_PRESET.
  SAC-specific: clipped double Q (FastSAC's use_cdq=True; SAC here always has it) and automatic
  alpha (lr 3e-4, target entropy -act_dim) from an initial 0.1 (our choice: the large batch makes
  alpha's gradient precise, so the start matters little; not taken from FastSAC).

Example:
    rlmeta train sac --env HalfCheetah-v5 --total-steps 1000000 --run-dir runs/sac-hc
    rlmeta train sac --preset sb3 --env Hopper-v5 --run-dir runs/sac-hop
    rlmeta train sac --preset gpu --env HalfCheetah-v5 --total-steps 50000000      # one GPU, minutes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from rlmeta.agents.offpolicy.base import (
    GPU_PRESET,
    Learner,
    OffPolicyAgent,
    OffPolicyConfig,
    OffPolicyLoop,
    with_extra_losses,
)
from rlmeta.core.distributions import gaussian_log_prob, tanh_squash_log_prob
from rlmeta.core.errors import ConfigError
from rlmeta.core.networks import QEnsemble, SquashedGaussianActor
from rlmeta.core.optim import FlatAdam
from rlmeta.core.replay import ReplayBatch
from rlmeta.core.vec_env import VecEnv


@dataclass
class SACConfig(OffPolicyConfig):
    """SAC hyperparameters (defaults: the spinningup preset; shared fields in agents/offpolicy/base.py)."""

    preset: str = "spinningup"
    """Named preset setting the defaults: spinningup (default) or sb3 (see above); or a .json/.yaml file."""
    alpha: float = 0.2
    """Entropy temperature (fixed), or its initial value with --autotune."""
    autotune: bool = False
    """Learn alpha by gradient descent on -log_alpha * (log pi + target_entropy)."""
    alpha_lr: float = 1e-3
    """Adam learning rate of log alpha (with --autotune)."""
    target_entropy: float | None = None
    """Entropy target for --autotune (default -act_dim)."""

    def validate(self) -> None:
        super().validate()
        if self.alpha < 0 or (self.autotune and self.alpha <= 0):
            raise ConfigError(f"--alpha must be >= 0 (> 0 with --autotune), got {self.alpha}")
        if self.alpha_lr <= 0:
            raise ConfigError(f"--alpha-lr must be positive, got {self.alpha_lr}")

    @classmethod
    def presets(cls) -> dict[str, SACConfig]:
        return {
            "spinningup": cls(),
            "sb3": cls(
                preset="sb3",
                pi_lr=3e-4,
                q_lr=3e-4,
                alpha_lr=3e-4,
                batch_size=256,
                polyak=0.995,
                alpha=1.0,
                autotune=True,
                start_steps=5_000,
                update_after=5_000,
                update_every=1,
            ),
            # FastSAC (younggyoseo/FastTD3 fast_sac/hyperparams.py) on mujoco-warp worlds: see above
            "gpu": cls(preset="gpu", **GPU_PRESET, autotune=True, alpha=0.1, alpha_lr=3e-4),
        }


# ---------------------------------------------------------------------- losses
def sample_action(
    actor: SquashedGaussianActor, obs: torch.Tensor, eps: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """actor.sample(obs) with its reparameterisation noise eps [B, act_dim] passed in (None: drawn
    here from torch's global RNG, the same draw as actor.sample). Explicit noise lets K seeds' losses
    run vmapped with each seed's own draws (stacked.py). -> action [B, act_dim], logp [B]"""
    mean, log_std = actor(obs)  # [B, act_dim] each
    eps = torch.randn_like(mean) if eps is None else eps
    u = mean + eps * log_std.exp()
    logp = tanh_squash_log_prob(u, gaussian_log_prob(u, mean, log_std))
    return torch.tanh(u) * actor.act_scale + actor.act_bias, logp


def critic_loss(
    q: QEnsemble,
    q_targ: QEnsemble,
    actor: SquashedGaussianActor,
    b: ReplayBatch,
    gamma: float,
    alpha: torch.Tensor,
    eps: torch.Tensor | None = None,
):
    """Soft Bellman error of both critics against the clipped double-Q soft target.  -> (loss, metrics)

    y = r + gamma * (1 - done) * (min_i Q_targ_i(s', a') - alpha * log pi(a'|s')),  a' ~ pi(.|s')
    (eps: the noise of a', see sample_action)
    """
    with torch.no_grad():
        a2, logp_a2 = sample_action(actor, b.next_obs, eps)  # [B, act_dim], [B]
        q_next = q_targ(b.next_obs, a2).min(0).values  # [B]
        backup = b.rewards + gamma * (1.0 - b.dones) * (q_next - alpha * logp_a2)  # [B]
    qs = q(b.obs, b.actions)  # [2, B]
    loss = (qs - backup).pow(2).mean(1).sum()  # MSE(Q1) + MSE(Q2), as Spinning Up
    return loss, {"losses/qf_loss": loss.detach(), "losses/qf1_values": qs[0].detach().mean()}


def actor_loss(
    actor: SquashedGaussianActor, q: QEnsemble, obs: torch.Tensor, alpha: torch.Tensor, eps: torch.Tensor | None = None
):
    """E[alpha * log pi(a|s) - min_i Q_i(s, a)],  a ~ pi(.|s) reparameterised.  -> (loss, logp, metrics)

    The critics' weights are detached: gradients reach the actor through a only.
    """
    a, logp = sample_action(actor, obs, eps)  # [B, act_dim], [B]
    q_pi = q(obs, a, detach_params=True).min(0).values  # [B]
    loss = (alpha * logp - q_pi).mean()
    return loss, logp.detach(), {"losses/actor_loss": loss.detach(), "losses/entropy": -logp.detach().mean()}


def alpha_loss(log_alpha: torch.Tensor, logp: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """-log_alpha * E[log pi + target_entropy] (the SAC authors' form). When the entropy -E[log pi]
    is below the target the bracket is positive, so descent raises alpha, and vice versa."""
    return -(log_alpha * (logp + target_entropy).mean())


# ---------------------------------------------------------------------- agent
class SAC(OffPolicyAgent):
    algo = "sac"
    Config = SACConfig
    lr_fields: ClassVar[dict[str, str]] = {"pi_lr": "actor_opt", "q_lr": "critic_opt", "alpha_lr": "alpha_opt"}

    def __init__(self, cfg: SACConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        act_dim = envs.single_action_space.shape[0]
        self.build_networks(actor_target=False)  # actor, critic, the critic's target, optimizers
        self.target_entropy = float(-act_dim if cfg.target_entropy is None else cfg.target_entropy)
        self.log_alpha = torch.tensor([float(np.log(max(cfg.alpha, 1e-30)))], device=device, requires_grad=True)
        self.alpha_opt = FlatAdam([self.log_alpha], lr=cfg.alpha_lr, capturable=self.graphs) if cfg.autotune else None
        self.loop = OffPolicyLoop(cfg, envs, device)

    # ------------------------------------------------------------------ network hooks (see OffPolicyAgent)
    def build_actor(self, obs_dim: int, act_dim: int) -> nn.Module:
        space = self.envs.single_action_space
        return SquashedGaussianActor(
            obs_dim, act_dim, self.cfg.hidden_sizes, self.cfg.activation, space.low, space.high
        )

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.sample(obs)[0]

    def update_step(
        self, L: Learner, b: ReplayBatch, noise: tuple[torch.Tensor, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """One SAC step: critics, then the actor against the updated critics, then alpha, then targets."""
        cfg = self.cfg
        eps_next, eps_pi = noise  # [B, act_dim] each: the noise of a' (critic target) and of a (actor)
        alpha = L.nets.log_alpha.detach().exp()  # [1] a tensor: no host sync in the hot loop

        def q_loss(nets):
            return critic_loss(nets.critic, nets.critic_targ, nets.actor, b, cfg.gamma, alpha, eps_next)

        def pi_loss(nets):  # + the research hook's extra losses (agents/base.py)
            loss, logp, pm = actor_loss(nets.actor, nets.critic, b.obs, alpha, eps_pi)
            loss, pm = with_extra_losses(nets, b, loss, pm)
            return loss, (logp, pm)

        metrics = L.minimize("critic_opt", q_loss)
        logp, pm = L.minimize("actor_opt", pi_loss)  # logp [B] detached: the temperature's loss reads it
        metrics = {**metrics, **pm}
        if self.alpha_opt is not None:

            def a_loss(nets):
                loss = alpha_loss(nets.log_alpha, logp, self.target_entropy)  # [1]
                return loss, loss.detach()

            metrics["losses/alpha_loss"] = L.minimize("alpha_opt", a_loss)
        metrics["losses/alpha"] = alpha
        # flat parameter buffers on both sides: the whole polyak update is one lerp_
        L.polyak("critic_targ_flat", "critic_opt", cfg.polyak)
        return metrics

    def update_noise(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The random draws of one update, in its order: the noise of a' in the critic target and of a
        in the actor loss.  [B, act_dim] each"""
        shape = (batch_size, self.actor.act_dim)
        return torch.randn(shape, device=self.device), torch.randn(shape, device=self.device)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        o = torch.as_tensor(obs, device=self.device)
        a = self.actor.deterministic(o) if deterministic else self.actor.sample(o)[0]
        return a.cpu().numpy()

    # log alpha travels with the checkpoint too (the replay buffer and counters: OffPolicyAgent)
    def state_dict(self) -> dict:
        return {**super().state_dict(), "log_alpha": self.log_alpha.detach().clone()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        with torch.no_grad():
            self.log_alpha.copy_(d["log_alpha"])
