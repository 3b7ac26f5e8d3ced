"""Typed batches and buffers. Shapes: T = steps per env per iteration, N = envs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import torch


class RolloutBatch(NamedTuple):
    """Flattened on-policy batch, B = T * N."""

    obs: torch.Tensor  # [B, obs_dim], or [B, *obs_shape] (uint8 images: [B, 4, 84, 84] for Atari)
    actions: torch.Tensor  # [B, act_dim]
    logprobs: torch.Tensor  # [B] log pi_old(a|s)
    values: torch.Tensor  # [B] V_old(s)
    advantages: torch.Tensor  # [B] GAE(lambda)
    returns: torch.Tensor  # [B] advantages + values (the value target)


def compute_gae(
    rewards: torch.Tensor,  # [T, N] (truncation bootstrap already folded in, see RolloutBuffer)
    values: torch.Tensor,  # [T, N] V(s_t)
    dones: torch.Tensor,  # [T, N] 1.0 where the episode ended at step t (terminated or truncated)
    last_value: torch.Tensor,  # [N] V(s_T), the observation after the last step
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) advantages and returns, both [T, N].

    delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t)
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}
    With SAME_STEP autoreset s_{t+1} after a done is the next episode's first state, so it is
    masked out; a truncated step carries its bootstrap gamma * V(final_obs) inside r_t.
    """
    # On the CPU the recursion runs on numpy views of the same memory: the same float32 operations in
    # the same order (numpy rounds a Python-float factor to float32 as torch does), so bitwise the
    # tensor result, at about a microsecond per step instead of six torch dispatches (tests/test_gae.py).
    cpu = rewards.device.type == "cpu"
    r, v, d, next_value = (
        (x.numpy() for x in (rewards, values, dones, last_value)) if cpu else (rewards, values, dones, last_value)
    )
    zeros_like = np.zeros_like if cpu else torch.zeros_like
    adv, next_adv = zeros_like(r), zeros_like(next_value)
    for t in reversed(range(r.shape[0])):
        not_done = 1.0 - d[t]
        delta = r[t] + gamma * next_value * not_done - v[t]
        next_adv = delta + gamma * lam * not_done * next_adv
        adv[t] = next_adv
        next_value = v[t]
    adv = torch.from_numpy(adv) if cpu else adv
    return adv, adv + values


class RolloutBuffer:
    """Preallocated [T, N] storage on the training device for one on-policy iteration.

    obs_shape: an int (vector observations, float32) or a shape; `obs_dtype` torch.uint8 keeps image
    observations as bytes (an Atari batch of 8 x 128 stacks of 4 x 84 x 84 frames is 29 MB, not 116)."""

    def __init__(
        self,
        T: int,
        N: int,
        obs_shape: int | tuple[int, ...],
        act_dim: int,
        device: torch.device,
        obs_dtype: torch.dtype = torch.float32,
    ):
        z = lambda *s: torch.zeros(*s, device=device)  # noqa: E731
        self.T, self.N = T, N
        shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
        self.obs = torch.zeros(T, N, *shape, dtype=obs_dtype, device=device)  # [T, N, *obs_shape]
        self.actions = z(T, N, act_dim)
        self.logprobs, self.values, self.rewards, self.dones = z(T, N), z(T, N), z(T, N), z(T, N)

    def numpy(self) -> SimpleNamespace:
        """numpy views of the CPU storage (writes land in the tensors)."""
        return SimpleNamespace(
            **{k: getattr(self, k).numpy() for k in ("obs", "actions", "logprobs", "values", "rewards", "dones")}
        )

    def batch(self, last_value: torch.Tensor, gamma: float, lam: float) -> RolloutBatch:
        adv, ret = compute_gae(self.rewards, self.values, self.dones, last_value, gamma, lam)
        flat = lambda x: x.reshape(self.T * self.N, *x.shape[2:])  # noqa: E731
        return RolloutBatch(
            flat(self.obs), flat(self.actions), flat(self.logprobs), flat(self.values), flat(adv), flat(ret)
        )
