"""HalfCheetah task families on the batched MuJoCo backend (envs/mujoco/batched.py, imported).

Rewards as in ProMP's half_cheetah_rand_vel.py / half_cheetah_rand_direc.py (the MAML paper's
tasks): with v = (x_after - x_before) / dt from qpos[0] and a clipped to [-1, 1]^6,

- velocity: reward = -|v - goal_velocity| - 0.05 * sum(a^2),  goal_velocity ~ U[0, 2];
- direction: reward = direction * v - 0.05 * sum(a^2),        direction ~ {-1, +1}.

0.05 = ProMP's `0.5 * 1e-1` (gymnasium's own HalfCheetah-v5 uses 0.1). Dynamics, observation
(17-d, x excluded), reset noise and seeding are gymnasium HalfCheetah-v5's, via the backend.
"""

from __future__ import annotations

import numpy as np

from rlmeta.envs.meta.base import MetaVecEnv
from rlmeta.envs.mujoco.batched import MujocoBatchBackend
from rlmeta.envs.mujoco.tasks import HalfCheetah

CTRL_COST = 0.05


class _GoalTask(HalfCheetah):
    """HalfCheetah-v5's rules (envs/mujoco/tasks/half_cheetah.py) with one goal per sub-env: the
    owner's `task_reward(v, goal)` -> [N] replaces the forward reward, and the control cost is ProMP's."""

    def __init__(self, env, owner: _CheetahMeta):
        super().__init__(env, xp=np)
        self.owner = owner

    def reward(self, s, x_velocity, action):
        ctrl = CTRL_COST * np.sum(np.square(action), axis=1)
        reward = self.owner.task_reward(x_velocity, self.owner._tasks[:, 0]) - ctrl
        return reward, self.never(reward), {}


class _CheetahMeta(MetaVecEnv):
    obs_dim, act_dim, task_dim = 17, 6, 1
    act_low, act_high = np.full(6, -1.0), np.full(6, 1.0)
    horizon = 200

    def __init__(self, num_envs: int, threads: int = 0):
        super().__init__(num_envs)
        self.backend = MujocoBatchBackend("HalfCheetah-v5", num_envs, threads=threads)
        self.backend.task = _GoalTask(self.backend._env, self)
        self.dt = self.backend._env.unwrapped.dt

    def task_reward(self, v: np.ndarray, goal: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reset(self, seed: int) -> np.ndarray:
        return self.backend.reset(seed)

    def step(self, actions):
        if (self.backend.elapsed + 1 >= self.backend.max_episode_steps).any():
            raise RuntimeError("meta-RL horizon exceeds HalfCheetah-v5's 1000-step limit")
        obs, reward, term, _, _ = self.backend.step(self.clip(actions))
        return obs, reward, term

    def close(self) -> None:
        self.backend.close()


class HalfCheetahVel(_CheetahMeta):
    """Run at a goal velocity. Example:
    >>> env = HalfCheetahVel(num_envs=8)
    >>> env.set_task(env.sample_tasks(8, np.random.default_rng(0)))   # [8, 1] goals in [0, 2]
    >>> obs = env.reset(seed=0); obs, reward, done = env.step(np.zeros((8, 6)))
    """

    @staticmethod
    def sample_tasks(n, rng):
        return rng.uniform(0.0, 2.0, size=(n, 1))

    @staticmethod
    def task_reward(v, goal):
        return -np.abs(v - goal)


class HalfCheetahDir(_CheetahMeta):
    """Run forward (+1) or backward (-1)."""

    @staticmethod
    def sample_tasks(n, rng):
        return rng.choice([-1.0, 1.0], size=(n, 1))

    @staticmethod
    def task_reward(v, direction):
        return direction * v
