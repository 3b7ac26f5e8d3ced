"""Networks shared by the agents: MLP, Gaussian actor (state-independent log-std), critics."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from rlmeta.distributions import gaussian_entropy, gaussian_log_prob

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def mlp(
    sizes: Sequence[int],
    activation: str = "tanh",
    output_activation: type[nn.Module] | None = None,
    ortho_init: bool = False,
    output_gain: float = 1.0,
) -> nn.Sequential:
    """MLP with `len(sizes) - 1` linear layers. ortho_init: orthogonal weights (gain sqrt 2 hidden,
    `output_gain` last) and zero biases, as in the PPO implementation details (CleanRL/SB3)."""
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        if ortho_init:
            nn.init.orthogonal_(lin.weight, output_gain if last else np.sqrt(2))
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(act())
        elif output_activation is not None:
            layers.append(output_activation())
    return nn.Sequential(*layers)


class GaussianActor(nn.Module):
    """pi(a|s) = N(mu(s), diag(exp(log_std))^2) with a state-independent, learned log_std."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], activation: str = "tanh",
                 log_std_init: float = 0.0, ortho_init: bool = False):
        super().__init__()
        self.mu = mlp([obs_dim, *hidden, act_dim], activation, ortho_init=ortho_init, output_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs [B, obs_dim] -> mean [B, act_dim], log_std [B, act_dim] (broadcast)."""
        mean = self.mu(obs)
        return mean, self.log_std.expand_as(mean)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> action [B, act_dim], log_prob [B]"""
        mean, log_std = self(obs)
        a = mean + torch.randn_like(mean) * log_std.exp()
        return a, gaussian_log_prob(a, mean, log_std)

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> log_prob [B], entropy [B]"""
        mean, log_std = self(obs)
        return gaussian_log_prob(act, mean, log_std), gaussian_entropy(log_std)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self(obs)[0] if deterministic else self.sample(obs)[0]


class Critic(nn.Module):
    """V(s): obs [B, obs_dim] -> [B]."""

    def __init__(self, obs_dim: int, hidden: Sequence[int], activation: str = "tanh", ortho_init: bool = False):
        super().__init__()
        self.v = mlp([obs_dim, *hidden, 1], activation, ortho_init=ortho_init, output_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v(obs).squeeze(-1)
