"""Replay buffer for off-policy agents: preallocated, circular, torch tensors on the training device.

One transition is one row of a single [capacity, obs + act + 1 + obs + 1] float32 tensor, so a
minibatch is one index_select (one gather, one kernel on GPU) whose columns are returned as views.
Memory: 1M HalfCheetah transitions (17 + 6 + 1 + 17 + 1 floats) take 168 MB.

Time limits: a truncated transition is stored with done = 0 and next_obs = the episode's true last
observation (VecStep.final_obs), so the critic bootstraps through the time limit; only a true
terminal state gets done = 1 (SB3's handle_timeout_termination, Pardo et al. 2018).

Example:
    >>> rb = ReplayBuffer(1_000_000, obs_dim=17, act_dim=6, device=torch.device("cpu"))
    >>> rb.add(obs, act, rew, out.final_obs, out.terminated)   # N transitions per call
    >>> b = rb.sample(256)                                    # ReplayBatch of [256, ...] views
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch


class ReplayBatch(NamedTuple):
    obs: torch.Tensor  # [B, obs_dim]
    actions: torch.Tensor  # [B, act_dim] (as executed, inside the action Box)
    rewards: torch.Tensor  # [B]
    next_obs: torch.Tensor  # [B, obs_dim] the true next observation (final_obs at an episode end)
    dones: torch.Tensor  # [B] 1.0 only for a true terminal state (never for a time-limit truncation)


class ReplayBuffer:
    """Circular buffer of `capacity` transitions; `add` takes a batch of N (one vector-env step)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str = "cpu"):
        self.capacity, self.obs_dim, self.act_dim = int(capacity), obs_dim, act_dim
        self.device = torch.device(device)
        self.width = 2 * obs_dim + act_dim + 2
        # column layout of one row: [obs | act | rew | next_obs | done]
        o, a = obs_dim, act_dim
        self._cols = (
            (0, o),
            (o, o + a),
            (o + a, o + a + 1),
            (o + a + 1, 2 * o + a + 1),
            (2 * o + a + 1, 2 * o + a + 2),
        )
        # torch.zeros of a large tensor is lazily backed by zero pages: memory grows as it fills
        self.data = torch.zeros(self.capacity, self.width, device=self.device)  # [capacity, width]
        self.ptr = 0  # next row to write
        self.size = 0  # rows holding data (== capacity once it has wrapped)

    def __len__(self) -> int:
        return self.size

    def _t(self, x: Any) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32).to(self.device, non_blocking=True)

    def add(self, obs, actions, rewards, next_obs, dones) -> None:
        """obs [N, obs_dim], actions [N, act_dim], rewards [N], next_obs [N, obs_dim], dones [N];
        numpy arrays or tensors. Pass next_obs = final_obs and dones = terminated (not truncated)."""
        rows = torch.cat(
            [
                self._t(obs),
                self._t(actions),
                self._t(rewards).reshape(-1, 1),
                self._t(next_obs),
                self._t(dones).reshape(-1, 1),
            ],
            1,
        )  # [N, width]
        n = rows.shape[0]
        if n > self.capacity:  # only the newest `capacity` rows survive anyway
            rows, n = rows[-self.capacity :], self.capacity
        end = self.ptr + n
        if end <= self.capacity:
            self.data[self.ptr : end] = rows
        else:  # wrap around
            k = self.capacity - self.ptr
            self.data[self.ptr :] = rows[:k]
            self.data[: n - k] = rows[k:]
        self.ptr = end % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> ReplayBatch:
        """Uniform minibatch (with replacement) over the stored rows; uses torch's global RNG."""
        idx = torch.randint(0, self.size, (batch_size,), device=self.device)
        return self.split(self.data.index_select(0, idx))

    def split(self, rows: torch.Tensor) -> ReplayBatch:
        """[B, width] rows -> ReplayBatch of column views."""
        (o0, o1), (a0, a1), (r0, _), (n0, n1), (d0, _) = self._cols
        return ReplayBatch(rows[:, o0:o1], rows[:, a0:a1], rows[:, r0], rows[:, n0:n1], rows[:, d0])

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Only the filled rows travel (a fresh 1M buffer after 50k steps saves 50k rows)."""
        return {
            "data": self.data[: self.size].cpu().clone(),
            "ptr": self.ptr,
            "size": self.size,
            "capacity": self.capacity,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if int(d["capacity"]) != self.capacity or d["data"].shape[1] != self.width:
            raise ValueError(
                f"replay buffer shape mismatch: checkpoint {d['capacity']}x{d['data'].shape[1]}, "
                f"buffer {self.capacity}x{self.width}"
            )
        self.size, self.ptr = int(d["size"]), int(d["ptr"])
        self.data[: self.size] = d["data"].to(self.device)


def uniform_actions(low: np.ndarray, high: np.ndarray, n: int, device: torch.device) -> torch.Tensor:
    """[n, act_dim] uniform in the Box [low, high], drawn from torch's global RNG (checkpointed)."""
    low_t = torch.as_tensor(low, dtype=torch.float32, device=device)
    high_t = torch.as_tensor(high, dtype=torch.float32, device=device)
    return low_t + (high_t - low_t) * torch.rand(n, low_t.shape[0], device=device)
