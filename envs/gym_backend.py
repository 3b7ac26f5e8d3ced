"""gymnasium.vector backends (sync or async) with SAME_STEP autoreset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode


class GymBackend:
    """Wraps `gymnasium.vector.{Sync,Async}VectorEnv` in SAME_STEP autoreset mode.

    On 2 cores SyncVectorEnv beats AsyncVectorEnv for MuJoCo (pipe overhead > physics time);
    async pays off for slow envs or many cores.
    """

    def __init__(self, env_id: str, num_envs: int, asynchronous: bool = False, **make_kwargs):
        fns = [lambda: gym.make(env_id, **make_kwargs) for _ in range(num_envs)]
        cls = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
        self.env = cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        self.num_envs = num_envs
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=[seed + i for i in range(self.num_envs)])
        self.env.action_space.seed(seed)
        return obs

    def step(self, actions: np.ndarray):
        obs, reward, term, trunc, info = self.env.step(actions)
        final_obs = obs.copy()
        if "final_obs" in info:
            mask = info["_final_obs"]
            final_obs[mask] = np.stack(info["final_obs"][mask])
        return obs, reward, term, trunc, final_obs

    def close(self) -> None:
        self.env.close()
