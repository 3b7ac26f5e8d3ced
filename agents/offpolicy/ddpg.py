"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016), as in Spinning Up.

Reads top to bottom: config -> losses -> agent. A deterministic actor mu(s) ascends one critic
Q(s, mu(s)); the critic regresses on r + gamma (1 - done) Q_targ(s', mu_targ(s')); exploration adds
Gaussian noise to mu(s). Replay, targets, polyak, the collection loop and test episodes are shared
with TD3/SAC (agents/offpolicy/base.py).

Presets:
- `spinningup` (default): Spinning Up's PyTorch DDPG: (256,256) relu, lr 1e-3, batch 100, 10k
  uniform-random start steps, 50 updates every 50 steps, polyak 0.995, act_noise 0.1. Default: the
  protocol of the reference curves in benchmarks/ (HalfCheetah 10.1k at 1M steps).
- `fujimoto`: the re-tuned DDPG of the TD3 authors (sfujim/TD3, OurDDPG.py and main.py): lr 3e-4,
  batch 256, 25k random start steps before any update, one update per env step, tau 0.005.

Example:
    rlmeta train ddpg --env HalfCheetah-v5 --total-steps 1000000 --run-dir runs/ddpg-hc
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlmeta.agents.offpolicy.base import (
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
class DDPGConfig(OffPolicyConfig):
    """DDPG hyperparameters (defaults: the spinningup preset; shared fields in agents/offpolicy/base.py)."""

    preset: str = "spinningup"
    """Named preset setting the defaults: spinningup (default) or fujimoto (see above); or a .json/.yaml file."""
    act_noise: float = 0.1
    """Std of the Gaussian exploration noise, in units of the half-width of the action Box."""

    def validate(self) -> None:
        super().validate()
        if self.act_noise < 0:
            raise ConfigError(f"--act-noise must be >= 0, got {self.act_noise}")

    @classmethod
    def presets(cls) -> dict[str, DDPGConfig]:
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
        }


# ---------------------------------------------------------------------- losses
def critic_loss(q: QEnsemble, q_targ: QEnsemble, actor_targ: DeterministicActor, b: ReplayBatch, gamma: float):
    """MSE of Q(s, a) against y = r + gamma (1 - done) Q_targ(s', mu_targ(s')).  -> (loss, metrics)"""
    with torch.no_grad():
        q_next = q_targ(b.next_obs, actor_targ(b.next_obs))[0]  # [B]
        backup = b.rewards + gamma * (1.0 - b.dones) * q_next
    qs = q(b.obs, b.actions)[0]  # [B]
    loss = (qs - backup).pow(2).mean()
    return loss, {"losses/qf_loss": loss.detach(), "losses/qf1_values": qs.detach().mean()}


def actor_loss(actor: DeterministicActor, q: QEnsemble, obs: torch.Tensor):
    """-E[Q(s, mu(s))]; the critic's weights are detached (gradients reach the actor only).  -> (loss, metrics)"""
    loss = -q(obs, actor(obs), detach_params=True)[0].mean()
    return loss, {"losses/actor_loss": loss.detach()}


# ---------------------------------------------------------------------- agent
class DDPG(OffPolicyAgent):
    algo = "ddpg"
    Config = DDPGConfig
    n_critics = 1  # a one-member ensemble: the same batched critic code as TD3/SAC

    def __init__(self, cfg: DDPGConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        self.build_networks(actor_target=True)  # actor, critic, both targets, optimizers
        self.loop = OffPolicyLoop(cfg, envs, device)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return noisy_action(self.actor, obs, self.cfg.act_noise, self.low, self.high)

    def update_step(self, L: Learner, b: ReplayBatch, noise: tuple[()]) -> dict[str, torch.Tensor]:
        """Critic step, actor step against the updated critic, then polyak of both targets. (No random
        draws besides the minibatch: update_noise is the base's empty tuple.)"""
        cfg = self.cfg

        def q_loss(nets):
            return critic_loss(nets.critic, nets.critic_targ, nets.actor_targ, b, cfg.gamma)

        def pi_loss(nets):  # + the research hook's extra losses (agents/base.py)
            return with_extra_losses(nets, b, *actor_loss(nets.actor, nets.critic, b.obs))

        metrics = L.minimize("critic_opt", q_loss)
        metrics = {**metrics, **L.minimize("actor_opt", pi_loss)}
        L.polyak("actor_targ_flat", "actor_opt", cfg.polyak)
        L.polyak("critic_targ_flat", "critic_opt", cfg.polyak)
        return metrics

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        o = torch.as_tensor(obs, device=self.device)
        return (self.actor(o) if deterministic else self.explore(o)).cpu().numpy()
