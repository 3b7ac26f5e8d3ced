"""What VPG, TRPO and PPO share: config fields, actor/critic/collector construction, the value
loss and the full-batch critic fit. Each algorithm file then only holds its policy update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlmeta.agents.base import Agent
from rlmeta.core.buffers import RolloutBatch
from rlmeta.core.config import RunConfig
from rlmeta.core.errors import ConfigError
from rlmeta.core.memory import mlp_params
from rlmeta.core.networks import (
    PRECISIONS,
    CategoricalActor,
    Critic,
    GaussianActor,
    MultiCategoricalActor,
    NatureCNN,
    SharedEncoder,
    has_hooks,
    is_image_space,
)
from rlmeta.core.optim import FlatAdam
from rlmeta.core.rollout import OnPolicyCollector
from rlmeta.core.vec_env import VecEnv


@dataclass
class OnPolicyConfig(RunConfig):
    """Fields of every on-policy agent (defaults: Spinning Up's benchmark settings)."""

    num_envs: int = 4
    """Parallel environments."""
    num_steps: int = 1000
    """Steps per env per iteration; the batch is num_steps * num_envs (Spinning Up: 4000 per epoch)."""
    hidden_sizes: tuple[int, ...] = (64, 32)
    """Hidden layer sizes of actor and critic (after the image encoder on pixels; empty: linear heads)."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu or elu."""
    ortho_init: bool = False
    """Orthogonal initialisation (policy head gain 0.01) instead of torch's default."""
    log_std_init: float = -0.5
    """Initial log standard deviation of the Gaussian policy."""
    encoder_precision: str = "fp32"
    """Compute dtype of the image encoder on pixel observations: fp32, or bf16 (autocast: its
    convolutions and linear layer in bfloat16; weights, gradients, heads, losses and Adam stay float32).
    About 2x faster where the hardware has bfloat16 arithmetic (AVX-512 BF16 / AMX CPUs, Ampere and
    later GPUs), slower elsewhere; Breakout learning curves: benchmarks/results/atari-1m. No effect on
    vector observations."""
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
        self._check(
            num_steps=self.num_steps > 0,
            gamma=0 <= self.gamma <= 1,
            gae_lambda=0 <= self.gae_lambda <= 1,
            critic_lr=self.critic_lr > 0,
            hidden_sizes=min(self.hidden_sizes, default=1) > 0,
        )
        if self.activation not in ("tanh", "relu", "elu"):
            raise ConfigError(f"--activation must be tanh, relu or elu, got {self.activation!r}")
        if self.encoder_precision not in PRECISIONS:
            raise ConfigError(f"--encoder-precision must be {' or '.join(PRECISIONS)}, got {self.encoder_precision!r}")

    memory_flags = "--num-envs / --num-steps / --hidden-sizes"

    def memory_estimate(self) -> dict[str, int]:
        """+ actor and critic with Adam (parameters, gradients, two moments) and the rollout batch."""
        nets = 2 * 4 * 4 * mlp_params([1, *self.hidden_sizes, 1])
        return {**super().memory_estimate(), "networks": nets, "rollout buffer": self.num_envs * self.num_steps * 8 * 4}

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
    """Builds actor, critic (+ FlatAdam), and the collector; subclasses write `iteration()`.

    Networks come from two hooks, called before any optimizer or executor is made, so a subclass that
    overrides them is trained everywhere (the optimizers step its parameters, --compile and CUDA
    graphs run its forward):

    - `build_actor(obs_dim, act_dim) -> nn.Module` with the policy interface the losses use:
      `log_prob_entropy(obs [B, obs_dim], act [B, act_dim]) -> (log_prob [B], entropy [B])`,
      `sample(obs) -> (action [B, act_dim], log_prob [B])`, `act(obs, deterministic) -> action`
      (TRPO's KL also reads `forward(obs) -> (mean, log_std)`). `fast_sampler()` / `numpy_sampler()`
      are optional: without them (or with forward hooks registered) collection calls `sample` itself.
    - `build_critic(obs_dim) -> nn.Module`: `forward(obs [B, obs_dim]) -> value [B]`; `fast_value()` /
      `numpy_value()` optional likewise.

    Example:
        >>> class WidePPO(PPO):
        ...     def build_actor(self, obs_dim, act_dim):
        ...         return GaussianActor(obs_dim, act_dim, (256, 256), "tanh", self.cfg.log_std_init)
    """

    Config = OnPolicyConfig
    lr_fields: ClassVar[dict[str, str]] = {"critic_lr": "critic_opt"}
    continuous_actions = False  # Box (Gaussian policy) or Discrete (categorical policy)
    # image observations: whether the critic reuses the actor's encoder. Only for an agent whose one
    # update steps both networks from the sum of their losses (PPO); VPG and TRPO fit the critic
    # separately, so each network has its own encoder there.
    share_encoder = False

    @classmethod
    def check_action_space(cls, space: gym.Space, env_id: str) -> None:
        if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete)) or (
            isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim != 1
        ):
            raise ConfigError(
                f"{cls.algo} takes a Box (continuous), Discrete or (1-dim) MultiDiscrete action space; "
                f"{env_id} has {space}"
            )

    def __init__(self, cfg: OnPolicyConfig, envs: VecEnv, device: torch.device):
        super().__init__(cfg, envs, device)
        # obs_dim: the observation's size (flattened for images; the default image networks read
        # self.obs_shape)
        self.obs_shape = tuple(envs.single_observation_space.shape)
        obs_dim = int(np.prod(self.obs_shape))
        space = envs.single_action_space
        # the policy head's width: n logits (Discrete), sum(nvec) (MultiDiscrete), the Box's size
        act_dim = (
            int(space.n)
            if isinstance(space, gym.spaces.Discrete)
            else int(space.nvec.sum())
            if isinstance(space, gym.spaces.MultiDiscrete)
            else space.shape[0]
        )
        self.actor = self.build_actor(obs_dim, act_dim).to(device)
        self.critic = self.build_critic(obs_dim).to(device)
        # capturable on CUDA and when compiling: learning rate and step count live on the device as
        # tensors (no host syncs, CUDA graphs, no recompiles as the rate anneals)
        self.critic_opt = FlatAdam(
            self.critic.parameters(),
            lr=cfg.critic_lr,
            eps=1e-5,
            capturable=device.type == "cuda" or getattr(cfg, "compile", False),
        )
        self.collector = OnPolicyCollector(envs, cfg.num_steps, device, cfg.gamma)

    # ------------------------------------------------------------------ network hooks
    def build_actor(self, obs_dim: int, act_dim: int) -> nn.Module:
        """The policy network: an MLP Gaussian with a state-independent log-std on a Box; on a
        Discrete(n) space a categorical over its n actions (act_dim = n then). Image observations
        (3 dims) first go through a NatureCNN encoder (`self.image_encoder()`)."""
        cfg = self.cfg
        encoder = self.image_encoder()
        space = self.envs.single_action_space
        if isinstance(space, gym.spaces.MultiDiscrete):
            return MultiCategoricalActor(
                obs_dim, space.nvec.tolist(), cfg.hidden_sizes, cfg.activation, cfg.ortho_init, encoder
            )
        if isinstance(space, gym.spaces.Discrete):
            return CategoricalActor(obs_dim, act_dim, cfg.hidden_sizes, cfg.activation, cfg.ortho_init, encoder)
        return GaussianActor(
            obs_dim, act_dim, cfg.hidden_sizes, cfg.activation, cfg.log_std_init, cfg.ortho_init, encoder
        )

    def build_critic(self, obs_dim: int) -> nn.Module:
        """The value network V(s) (default: an MLP). On images: the actor's encoder where the agent
        steps both networks together (`share_encoder`, PPO), else an encoder of its own."""
        cfg = self.cfg
        encoder: nn.Module | SharedEncoder | None = None
        if is_image_space(self.obs_shape):
            actor_encoder = getattr(self.actor, "encoder", None)
            encoder = (
                SharedEncoder(actor_encoder)
                if self.share_encoder and actor_encoder is not None
                else self.image_encoder()
            )
        return Critic(obs_dim, cfg.hidden_sizes, cfg.activation, cfg.ortho_init, encoder)

    def image_encoder(self) -> nn.Module | None:
        """The encoder for image observations (NatureCNN), None for vectors: override to change it."""
        if not is_image_space(self.obs_shape):
            return None
        return NatureCNN(
            self.obs_shape,
            uint8=self.envs.single_observation_space.dtype == np.uint8,
            precision=self.cfg.encoder_precision,
        )

    @property
    def steps_per_iteration(self) -> int:
        return self.cfg.num_steps * self.cfg.num_envs

    def collect(self) -> RolloutBatch:
        """One batch of T * N transitions with GAE advantages; advances global_step."""
        # no-grad forwards without module dispatch (rlmeta/core/networks.py): numpy ones on the all-CPU path
        # (float-tolerance equal to the modules), torch ones elsewhere (bitwise the modules')
        policy, value = self._samplers()
        batch = self.collector.collect(policy, value, self.cfg.gae_lambda)
        self.global_step += self.steps_per_iteration
        return batch

    def _samplers(self) -> tuple[Callable, Callable]:
        """(policy, value) for the collector: the networks' fast forms where they offer them, their
        own sample / forward otherwise (a custom network, or one with forward hooks, runs as itself)."""
        actor, critic, host = self.actor, self.critic, self.collector.host
        shared = getattr(critic, "encoder", None)
        if isinstance(shared, SharedEncoder) and hasattr(shared.module, "reuse"):
            return self._shared_encoder_samplers(shared.module, host)
        kind = "numpy" if host else "fast"
        policy = getattr(actor, f"{kind}_sampler", None)
        value = getattr(critic, f"{kind}_value", None)
        if policy is not None and not has_hooks(actor):
            policy = policy()
        elif host:
            policy = lambda obs: tuple(x.numpy() for x in actor.sample(torch.from_numpy(obs)))  # noqa: E731
        else:
            policy = actor.sample
        if value is not None and not has_hooks(critic):
            value = value()
        elif host:
            value = lambda obs: critic(torch.from_numpy(obs)).numpy()  # noqa: E731
        else:
            value = critic
        return policy, value

    def _shared_encoder_samplers(self, encoder: nn.Module, host: bool) -> tuple[Callable, Callable]:
        """(policy, value) over one shared image encoder: the policy call also computes the value of the
        same observations (one encoder forward per step), handed to the value call that follows on them."""
        actor, critic = self.actor, self.critic
        last: dict = {}

        def policy(obs):
            t = torch.from_numpy(obs) if host else obs
            with encoder.reuse():
                a, logp = actor.sample(t)
                last["obs"], last["v"] = obs, critic(t)
            return (a.numpy(), logp.numpy()) if host else (a, logp)

        def value(obs):
            v = last.pop("v") if last.get("obs") is obs else critic(torch.from_numpy(obs) if host else obs)
            last.clear()
            return v.numpy() if host else v

        return policy, value

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
