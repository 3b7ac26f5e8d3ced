"""The interface of a meta-RL task family, vectorised across tasks: sub-env i runs task i.

A task is a small float vector (goal velocity [1], direction [1], goal position [2]). Every family
provides:

- `sample_tasks(n, rng) -> [n, task_dim]` from the family's task distribution;
- `set_task(task)`: one task `[task_dim]` for every sub-env, or `[N, task_dim]`, one per sub-env;
- `get_task() -> [N, task_dim]`;
- `reset(seed) -> obs [N, obs_dim]`, `step(actions [N, act_dim]) -> (obs, reward [N], done [N])`.

Meta-RL rollouts are fixed-horizon episodes started together (no autoreset): a sub-env whose episode
terminated (Ant falling over) reports done=True once and is then frozen; the sampler masks its later
steps. Actions are clipped to the action box before they reach the physics *and* the control cost
(as rllab's/ProMP's normalized envs do).
"""

from __future__ import annotations

import numpy as np


class MetaVecEnv:
    num_envs: int
    obs_dim: int
    act_dim: int
    task_dim: int
    act_low: np.ndarray
    act_high: np.ndarray

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self._tasks = np.zeros((num_envs, self.task_dim))

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def sample_tasks(n: int, rng: np.random.Generator) -> np.ndarray:  # [n, task_dim]
        # static: the task distribution is a property of the family, shared with envs/meta/batched.py
        raise NotImplementedError

    def set_task(self, task) -> None:
        """task: [task_dim] (all sub-envs) or [N, task_dim] (one per sub-env)."""
        t = np.asarray(task, np.float64).reshape(-1, self.task_dim)
        if t.shape[0] not in (1, self.num_envs):
            raise ValueError(f"set_task: got {t.shape[0]} tasks for {self.num_envs} sub-envs")
        self._tasks = np.broadcast_to(t, (self.num_envs, self.task_dim)).copy()

    def get_task(self) -> np.ndarray:  # [N, task_dim]
        return self._tasks.copy()

    # ------------------------------------------------------------------ dynamics
    def reset(self, seed: int) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def clip(self, actions: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(actions, np.float64), self.act_low, self.act_high)

    def close(self) -> None:
        pass
