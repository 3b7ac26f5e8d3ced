"""The base class every agent derives from (one level: no agent inherits from a sibling).

An agent owns its networks, optimizers and collector; the runner owns the loop, logging and
checkpoints. Research hooks are few and named:

- `iteration()`: collect -> update; returns a metrics dict (the only method an agent must write).
- `extra_losses`: callables `(agent, batch) -> (loss, metrics)` added to the agent's main loss
  (the policy loss for policy-gradient agents, the actor loss for off-policy ones), so a new
  regulariser reaches every agent without overriding any `iteration()`. They read networks through
  the `agent` they are handed: under the off-policy vmapped executors (`--seeds K`, `--compile` on
  the CPU) that is one seed's view of the agent, whose networks carry that seed's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlmeta.core.config import RunConfig
from rlmeta.core.errors import ConfigError
from rlmeta.core.optim import FlatAdam, set_learning_rates
from rlmeta.core.vec_env import VecEnv
from rlmeta.envs import make_vec_env

ExtraLoss = Callable[["Agent", Any], tuple[torch.Tensor, dict[str, float]]]


class Agent:
    algo: ClassVar[str] = ""
    Config: ClassVar[type[RunConfig]] = RunConfig
    continuous_actions: ClassVar[bool] = True
    # config field -> optimizer attribute: a learning rate overridden on --resume reaches the optimizer
    # (a checkpoint restores the saved rates, which would otherwise silently win)
    lr_fields: ClassVar[dict[str, str]] = {}

    def __init__(self, cfg: RunConfig, envs: VecEnv, device: torch.device):
        self.check_env(envs)
        self.cfg, self.envs, self.device = cfg, envs, device
        self.global_step = 0
        self.extra_losses: list[ExtraLoss] = []

    # ------------------------------------------------------------------ to implement
    def iteration(self) -> dict[str, float]:
        """Collect data and update; advance self.global_step; return metrics."""
        raise NotImplementedError

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """obs [N, obs_dim] (already normalised by the VecEnv) -> actions [N, act_dim]."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared mechanics
    @classmethod
    def make_envs(cls, cfg: RunConfig, device: torch.device):
        """Build the training envs. Default: gymnasium/MuJoCo via envs.make_vec_env. Agents with
        other envs (board games) override this; the runner only needs close(), state_dict() and
        load_state_dict() on the result."""
        return make_vec_env(
            cfg.env,
            cfg.num_envs,
            cfg.seed,
            cfg.env_backend,
            cfg.env_threads,
            cfg.normalize_obs,
            cfg.normalize_reward,
            getattr(cfg, "gamma", 0.99),
            device=device,
            stagger_starts=cfg.stagger_starts,
        )

    @classmethod
    def check_env(cls, envs: VecEnv) -> None:
        cls.check_action_space(envs.single_action_space, envs.env_id or "this env")

    @classmethod
    def check_action_space(cls, space: gym.Space, env_id: str) -> None:
        """ConfigError when this agent cannot act in `space`."""
        if cls.continuous_actions and not isinstance(space, gym.spaces.Box):
            raise ConfigError(f"{cls.algo} needs a continuous (Box) action space; {env_id} has {space}")

    def extra_loss(self, batch: Any) -> tuple[torch.Tensor | float, dict[str, float]]:
        """Sum of the registered extra losses on `batch`, with their metrics."""
        total: torch.Tensor | float = 0.0
        metrics: dict[str, float] = {}
        for fn in self.extra_losses:
            loss, m = fn(self, batch)
            total = total + loss
            metrics.update(m)
        return total, metrics

    @property
    def steps_per_iteration(self) -> int | None:
        """Env steps one iteration() always takes (None: it varies, or iterations stop exactly at total_steps)."""
        return None

    set_learning_rates = set_learning_rates
    """set_learning_rates(fields): copy these learning-rate fields of self.cfg into their optimizers (lr_fields)."""

    def _stateful(self) -> dict[str, Any]:
        """Every module / optimizer attribute: what a checkpoint must hold."""
        return {k: v for k, v in vars(self).items() if isinstance(v, (nn.Module, torch.optim.Optimizer, FlatAdam))}

    def state_dict(self) -> dict[str, Any]:
        d = {k: v.state_dict() for k, v in self._stateful().items()}
        d["global_step"] = self.global_step
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        for k, v in self._stateful().items():
            if k not in d:
                raise ConfigError(f"checkpoint has no '{k}' for {self.algo}")
            v.load_state_dict(d[k])
        self.global_step = int(d["global_step"])
