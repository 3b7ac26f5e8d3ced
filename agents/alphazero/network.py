"""Policy + value residual network (AlphaZero's, scaled down) and the fast rollout policy.

Example:
    >>> net = PolicyValueNet(obs_shape=(2, 6, 7), num_actions=7, channels=64, blocks=4)
    >>> logits, value = net(torch.zeros(8, 2, 6, 7), torch.ones(8, 7, dtype=torch.bool))  # [8, 7], [8]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

NEG = -1e9


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class PolicyValueNet(nn.Module):
    """obs [B, C, H, W] (current player's view) -> policy logits [B, A], value [B] in (-1, 1).

    Stem conv3x3 -> `blocks` residual blocks of `channels` -> two heads: policy (conv1x1 to 2
    planes, linear to A logits) and value (conv1x1 to 1 plane, linear -> ReLU -> linear -> tanh).
    With `value_head=False` / `policy_head=False` the same trunk is an SL policy net or a value net
    (AlphaGo keeps them separate)."""

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        num_actions: int,
        channels: int = 64,
        blocks: int = 4,
        value_hidden: int = 64,
    ):
        super().__init__()
        c_in, h, w = obs_shape
        self.stem = nn.Sequential(
            nn.Conv2d(c_in, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.trunk = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])
        self.policy_conv = nn.Sequential(nn.Conv2d(channels, 2, 1, bias=False), nn.BatchNorm2d(2), nn.ReLU())
        self.policy_fc = nn.Linear(2 * h * w, num_actions)
        self.value_conv = nn.Sequential(nn.Conv2d(channels, 1, 1, bias=False), nn.BatchNorm2d(1), nn.ReLU())
        self.value_fc = nn.Sequential(nn.Linear(h * w, value_hidden), nn.ReLU(), nn.Linear(value_hidden, 1))

    def forward(self, obs: torch.Tensor, legal: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.trunk(self.stem(obs))  # [B, channels, H, W]
        logits = self.policy_fc(self.policy_conv(x).flatten(1))  # [B, A]
        if legal is not None:
            logits = torch.where(legal, logits, NEG)
        value = torch.tanh(self.value_fc(self.value_conv(x).flatten(1))).squeeze(-1)  # [B]
        return logits, value


class LinearRolloutPolicy(nn.Module):
    """AlphaGo's fast rollout policy, reduced to a linear softmax over the raw board planes."""

    def __init__(self, obs_shape: tuple[int, int, int], num_actions: int):
        super().__init__()
        c, h, w = obs_shape
        self.fc = nn.Linear(c * h * w, num_actions)

    def forward(self, obs: torch.Tensor, legal: Optional[torch.Tensor] = None) -> torch.Tensor:
        logits = self.fc(obs.flatten(1))
        return logits if legal is None else torch.where(legal, logits, NEG)


def model_fn(net: nn.Module, value_net: Optional[nn.Module] = None) -> Callable:
    """Wrap a PolicyValueNet (eval mode, no grad) as the search's `(obs, legal) -> (logits, value)`.
    With `value_net`, priors come from `net` and values from `value_net` (AlphaGo's SL policy +
    separate value network)."""

    @torch.no_grad()
    def fn(obs: torch.Tensor, legal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = _eval_call(net, obs, legal)
        if value_net is not None:
            _, value = _eval_call(value_net, obs, legal)
        return logits, value

    return fn


def _eval_call(net: nn.Module, *args: torch.Tensor):
    """net(*args) in eval mode (batch-norm running statistics). Switching modes walks every
    submodule, which costs as much as the forward pass of a small net: only switch when needed."""
    if not net.training:
        return net(*args)
    net.eval()
    try:
        return net(*args)
    finally:
        net.train()


def policy_fn(net: nn.Module) -> Callable:
    """Wrap a policy-only module as `(obs, legal) -> logits` (e.g. a rollout policy)."""

    @torch.no_grad()
    def fn(obs: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        out = _eval_call(net, obs, legal)
        return out[0] if isinstance(out, tuple) else out

    return fn
