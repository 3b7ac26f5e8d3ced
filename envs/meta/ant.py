"""Ant direction (the MAML paper's "Ant forward/backward"), on N gymnasium Ant-v5 envs.

We follow the MAML paper (section 5.3: "ant ... run forward or backward", 2 tasks) rather than
the 2-D goal-direction variant of later work: direction ~ {-1, +1} and

    reward = direction * forward_reward + healthy_reward - ctrl_cost - contact_cost

with every term Ant-v5's own (forward_reward = x-velocity of the torso from its xpos before/after,
healthy_reward 1, ctrl 0.5 * sum(a^2), contact 5e-4 * sum(clip(cfrc_ext, -1, 1)^2)); these equal
ProMP's ant_rand_direc.py weights. The episode terminates when the torso leaves z in [0.2, 1.0].
The sub-envs are plain gymnasium envs stepped in a loop, reading gymnasium's own info terms: the
reference that the task-batched torch version (envs/meta/batched.py, Ant-v5's rules from
envs/mujoco/tasks/ant.py on the batched backends) is tested against.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlmeta.envs.meta.base import MetaVecEnv


class AntDir(MetaVecEnv):
    """Example:
    >>> env = AntDir(num_envs=2); env.set_task([[1.0], [-1.0]])
    >>> obs = env.reset(seed=0); obs, reward, done = env.step(np.zeros((2, 8)))
    """

    task_dim = 1
    horizon = 200
    obs_dim, act_dim = 105, 8  # Ant-v5's defaults (each instance reads its own from gymnasium)
    act_low, act_high = np.full(8, -1.0), np.full(8, 1.0)

    def __init__(self, num_envs: int, **make_kwargs):
        self.envs = [gym.make("Ant-v5", **make_kwargs).unwrapped for _ in range(num_envs)]
        space = self.envs[0].action_space
        self.obs_dim = self.envs[0].observation_space.shape[0]
        self.act_dim = space.shape[0]
        self.act_low, self.act_high = space.low.astype(np.float64), space.high.astype(np.float64)
        super().__init__(num_envs)
        self.done = np.zeros(num_envs, bool)
        self._obs = np.zeros((num_envs, self.obs_dim))

    @staticmethod
    def sample_tasks(n, rng):
        return rng.choice([-1.0, 1.0], size=(n, 1))

    def reset(self, seed: int) -> np.ndarray:
        for i, e in enumerate(self.envs):
            self._obs[i] = e.reset(seed=seed + i)[0]
        self.done[:] = False
        return self._obs.copy()

    def step(self, actions):
        a = self.clip(actions)
        reward = np.zeros(self.num_envs)
        newly = np.zeros(self.num_envs, bool)
        for i, e in enumerate(self.envs):
            if self.done[i]:
                continue
            obs, _, term, _, info = e.step(a[i])
            self._obs[i] = obs
            reward[i] = (
                self._tasks[i, 0] * info["reward_forward"]
                + info["reward_survive"]
                + info["reward_ctrl"]
                + info["reward_contact"]
            )
            newly[i] = term
        self.done |= newly
        return self._obs.copy(), reward, newly

    def close(self) -> None:
        for e in self.envs:
            e.close()
