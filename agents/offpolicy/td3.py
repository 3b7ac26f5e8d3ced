"""Twin Delayed DDPG (Fujimoto, van Hoof & Meger 2018).

Reads top to bottom: config -> losses -> agent. DDPG plus three fixes for Q overestimation:
1. clipped double-Q: the target takes the smaller of two target critics;
2. target policy smoothing: clipped Gaussian noise on the target action;
3. delayed actor: the actor and all target networks update once per policy_delay critic updates.
The twin critics are one batched ensemble (one call for both). Replay, targets, polyak, the
collection loop and test episodes are shared with DDPG/SAC (agents/offpolicy/base.py).

Presets:
- `spinningup` (default): Spinning Up's PyTorch TD3: (256,256) relu, lr 1e-3, batch 100, 10k
  uniform-random start steps, 50 updates every 50 steps, polyak 0.995, act_noise 0.1. Default: it
  is the protocol of the reference curves in benchmarks/ and matches the other published 1M-step
  HalfCheetah results (9.8k against 9.6k for CleanRL and 9.7k for SB3-zoo) at the lowest cost.
- `fujimoto`: the authors' current code (sfujim/TD3, TD3.py and main.py): lr 3e-4, batch 256,
  25k random start steps before any update, one update per env step, tau 0.005.
- `gpu`: parallel worlds on one GPU after FastTD3 (Seo et al. 2025, "FastTD3: Simple, Fast, and
  Capable RL for Humanoid Control"; settings from younggyoseo/FastTD3 fast_td3/hyperparams.py).
  The choices shared with SAC's gpu preset (1024 mujoco-warp worlds, batch 32768, 2 updates per
  vector step as --utd-ratio, observation normalisation, tau 0.1, bigger networks, CUDA-graph
  updates) are listed with their reasons at rlmeta.agents.offpolicy.base.GPU_PRESET. TD3-specific: clipped
  double Q (FastTD3's use_cdq=True; TD3 always has it), policy_delay 2 (FastTD3's
  policy_frequency 2: one actor step per vector step), target smoothing noise 0.1 clipped at 0.5
  (FastTD3's DMC CheetahRun example; its HumanoidBench default is 0.001), and exploration noise
  0.2 (one std for every world: FastTD3 draws each world's std uniformly from [0.001, 0.4] when
  its episode ends; 0.2 is that range's mean; not implemented here).

Example:
    rlmeta train td3 --env HalfCheetah-v5 --total-steps 1000000 --run-dir runs/td3-hc
    rlmeta train td3 --preset gpu --env HalfCheetah-v5 --total-steps 50000000      # one GPU, minutes
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlmeta.agents.offpolicy.base import (
    GPU_PRESET,
    Learner,
    OffPolicyAgent,
    OffPolicyConfig,
    OffPolicyLoop,
    noisy_action,
    with_extra_losses,
)
from rlmeta.core.errors import ConfigError
from rlmeta.core.networks import DeterministicActor, QEnsemble
from rlmeta.core.replay import ReplayBatch
from rlmeta.core.vec_env import VecEnv


@dataclass
class TD3Config(OffPolicyConfig):
    """TD3 hyperparameters (defaults: the spinningup preset; shared fields in agents/offpolicy/base.py)."""

    preset: str = "spinningup"
    """Named preset setting the defaults: spinningup (default) or fujimoto (see above); or a .json/.yaml file."""
    act_noise: float = 0.1
    """Std of the Gaussian exploration noise, in units of the half-width of the action Box."""
    target_noise: float = 0.2
    """Std of the target policy smoothing noise (same units)."""
    noise_clip: float = 0.5
    """The smoothing noise is clipped to +-noise_clip (same units)."""
    policy_delay: int = 2
    """Critic updates per actor (and target network) update."""

    def validate(self) -> None:
        super().validate()
        if self.act_noise < 0 or self.target_noise < 0 or self.noise_clip < 0:
            raise ConfigError("--act-noise, --target-noise and --noise-clip must be >= 0")
        if self.policy_delay < 1:
            raise ConfigError(f"--policy-delay must be >= 1, got {self.policy_delay}")

    @classmethod
    def presets(cls) -> dict[str, TD3Config]:
        return {
            "spinningup": cls(),
            "fujimoto": cls(
                preset="fujimoto",
                pi_lr=3e-4,
                q_lr=3e-4,
                batch_size=256,
                start_steps=25_000,
                update_after=25_000,
                update_every=1,
            ),
            # FastTD3 (Seo et al. 2025, younggyoseo/FastTD3 hyperparams.py, MuJoCo Playground
            # defaults) on mujoco-warp worlds: see "The gpu preset" in the module docstring
            "gpu": cls(preset="gpu", **GPU_PRESET, target_noise=0.1, noise_clip=0.5, act_noise=0.2, policy_delay=2),
        }


# ---------------------------------------------------------------------- losses
def smoothed_target_action(
    a_targ: torch.Tensor,
    target_noise: float,
    noise_clip: float,
    scale: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Target policy smoothing: a' = clip(mu_targ(s') + clip(eps, -c, c) * scale, low, high),
    eps = target_noise * noise, noise ~ N(0, 1) [B, act_dim] (None: drawn here from torch's global
    RNG; passed in when K seeds run vmapped, stacked.py). scale is the Box half-width.  [B, act_dim]"""
    noise = torch.randn_like(a_targ) if noise is None else noise
    eps = (noise * target_noise).clamp(-noise_clip, noise_clip)
    return torch.max(torch.min(a_targ + eps * scale, high), low)


def critic_loss(
    q: QEnsemble,
    q_targ: QEnsemble,
    actor_targ: DeterministicActor,
    b: ReplayBatch,
    gamma: float,
    target_noise: float,
    noise_clip: float,
    low: torch.Tensor,
    high: torch.Tensor,
    noise: torch.Tensor | None = None,
):
    """MSE of both critics against y = r + gamma (1 - done) min_i Q_targ_i(s', a'_smoothed).  -> (loss, metrics)"""
    with torch.no_grad():
        a2 = smoothed_target_action(
            actor_targ(b.next_obs), target_noise, noise_clip, actor_targ.act_scale, low, high, noise
        )
        q_next = q_targ(b.next_obs, a2).min(0).values  # [B] clipped double-Q
        backup = b.rewards + gamma * (1.0 - b.dones) * q_next
    qs = q(b.obs, b.actions)  # [2, B]
    loss = (qs - backup).pow(2).mean(1).sum()
    return loss, {"losses/qf_loss": loss.detach(), "losses/qf1_values": qs[0].detach().mean()}


def actor_loss(actor: DeterministicActor, q: QEnsemble, obs: torch.Tensor):
    """-E[Q1(s, mu(s))]: TD3 ascends the first critic only; critic weights detached.  -> (loss, metrics)"""
    loss = -q(obs, actor(obs), members=1, detach_params=True).mean()
    return loss, {"losses/actor_loss": loss.detach()}


# ---------------------------------------------------------------------- agent
class TD3(OffPolicyAgent):
    algo = "td3"
    Config = TD3Config

    def __init__(self, cfg: TD3Config, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        self.build_networks(actor_target=True)  # actor, critic, both targets, optimizers
        self.loop = OffPolicyLoop(cfg, envs, device)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return noisy_action(self.actor, obs, self.cfg.act_noise, self.low, self.high)

    def graph_key(self) -> bool:
        """Whether the next update steps the actor (one CUDA graph each way)."""
        return (self.loop.num_updates + 1) % self.cfg.policy_delay == 0

    def update_step(self, L: Learner, b: ReplayBatch, noise: tuple[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Critic step every call; actor step and polyak of both targets every policy_delay calls."""
        cfg = self.cfg
        (smoothing,) = noise  # [B, act_dim]

        def q_loss(nets):
            return critic_loss(
                nets.critic,
                nets.critic_targ,
                nets.actor_targ,
                b,
                cfg.gamma,
                cfg.target_noise,
                cfg.noise_clip,
                self.low,
                self.high,
                smoothing,
            )

        def pi_loss(nets):  # + the research hook's extra losses (agents/base.py)
            return with_extra_losses(nets, b, *actor_loss(nets.actor, nets.critic, b.obs))

        metrics = L.minimize("critic_opt", q_loss)
        # loop.num_updates counts finished updates; this is update number num_updates + 1. Between actor
        # steps the executors keep logging the last actor step's metrics
        if self.graph_key():
            metrics = {**metrics, **L.minimize("actor_opt", pi_loss)}
            L.polyak("actor_targ_flat", "actor_opt", cfg.polyak)
            L.polyak("critic_targ_flat", "critic_opt", cfg.polyak)
        return metrics

    def update_noise(self, batch_size: int) -> tuple[torch.Tensor]:
        """The random draw of one update: the target smoothing noise.  [B, act_dim]"""
        return (torch.randn(batch_size, self.low.shape[0], device=self.device),)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        o = torch.as_tensor(obs, device=self.device)
        return (self.actor(o) if deterministic else self.explore(o)).cpu().numpy()
