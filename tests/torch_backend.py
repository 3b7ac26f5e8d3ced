"""A test double for GPU backends: the batched MuJoCo backend speaking torch (float32 tensors on the
CPU), as WarpBackend does, so DeviceVecEnv paths are tested without mujoco-warp (real physics)."""

from __future__ import annotations

import torch

from rlmeta.envs.mujoco.batched import MujocoBatchBackend


class TorchOnCPU:
    def __init__(self, env_id: str, n: int, **kw):
        self.inner = MujocoBatchBackend(env_id, n, threads=1, **kw)
        self.num_envs, self.device = n, torch.device("cpu")
        self.single_observation_space = self.inner.single_observation_space
        self.single_action_space = self.inner.single_action_space

    def reset(self, seed):
        return torch.as_tensor(self.inner.reset(seed), dtype=torch.float32)

    def step(self, actions):
        out = self.inner.step(actions.double().numpy())
        return tuple(torch.as_tensor(x) if x.dtype == bool else torch.as_tensor(x, dtype=torch.float32) for x in out)

    def close(self):
        self.inner.close()
