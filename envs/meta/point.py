"""2-D point navigation (Finn et al. 2017, section 5.3; rllab's maml_examples/point_env_randgoal.py).

State = position in the plane, starting at the origin; action = displacement, clipped to
[-0.1, 0.1]^2; reward = -||position_after - goal||; the episode ends early when both coordinates
are within 0.01 of the goal. Goals ~ U[-0.5, 0.5]^2. Horizon 100 in the paper.
"""

from __future__ import annotations

import numpy as np

from rlmeta.envs.meta.base import MetaVecEnv


class PointGoal(MetaVecEnv):
    """Example:
    >>> env = PointGoal(num_envs=4)
    >>> env.set_task(env.sample_tasks(4, np.random.default_rng(0)))
    >>> obs = env.reset(seed=0)                              # [4, 2] zeros
    >>> obs, reward, done = env.step(np.full((4, 2), 0.05))
    """

    obs_dim, act_dim, task_dim = 2, 2, 2
    act_low, act_high = np.full(2, -0.1), np.full(2, 0.1)
    horizon = 100

    def __init__(self, num_envs: int):
        super().__init__(num_envs)
        self.pos = np.zeros((num_envs, 2))
        self.done = np.zeros(num_envs, bool)

    @staticmethod
    def sample_tasks(n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-0.5, 0.5, size=(n, 2))

    def reset(self, seed: int) -> np.ndarray:
        self.pos[:] = 0.0
        self.done[:] = False
        return self.pos.copy()

    def step(self, actions):
        live = ~self.done
        self.pos[live] += self.clip(actions)[live]
        delta = self.pos - self._tasks
        reward = -np.sqrt((delta**2).sum(1))
        newly = live & (np.abs(delta) < 0.01).all(1)
        self.done |= newly
        return self.pos.copy(), reward, newly
