"""Task-batched meta-RL families in torch: a meta-batch of M tasks x R rollouts is one vector env.

The task parameters are a tensor with one row per world (`tasks [N, task_dim]`, N = M * R, world
m * R + r runs rollout r of task m), and the rewards are torch ops on the env's device, so on the
warp backend nothing leaves the GPU between the physics and the sampler. Same families, task
distributions, rewards and API as the numpy families of envs/meta (tests/test_meta_batched.py checks
them against those), with tensors in and out:

| family      | task row                 | physics                                                |
|-------------|--------------------------|--------------------------------------------------------|
| cheetah-vel | goal velocity            | HalfCheetah-v5 on backend "mujoco" (CPU, float64) or "warp" |
| cheetah-dir | direction (+1 / -1)      | same                                                    |
| ant-dir     | direction (+1 / -1)      | Ant-v5 on backend "mujoco" or "warp"                    |
| point       | goal position (x, y)     | torch itself (a sum of displacements)                   |

Backends: "mujoco" is envs/mujoco/batched.py's MujocoBatchBackend (threads, bitwise gymnasium physics;
rewards are computed in torch from its float64 state); "warp" is envs/mujoco/warp_backend.py's
WarpBackend (mujoco-warp, float32, any Warp device: CUDA, or Warp's CPU device for tests). ant-dir's
reward re-weights the terms of Ant-v5's own rules (envs/mujoco/tasks/ant.py) that either backend
reports per step: direction * forward + healthy - ctrl - contact, as envs/meta/ant.py does with
gymnasium's info; a fallen Ant world reports done once and is frozen (its backend world autoresets
and runs on unseen: its observation stays the last one, its reward 0).

Example:
    >>> env = TorchMetaEnv("cheetah-vel", num_envs=40 * 20, backend="warp", device="cuda")
    >>> tasks = env.sample_tasks(40, np.random.default_rng(0))     # [40, 1] numpy, the family's law
    >>> env.set_task_batch(torch.as_tensor(tasks), rollouts=20)    # tasks [800, 1] on the device
    >>> obs = env.reset(seed=0)                                    # [800, 17] float32, cuda
    >>> obs, reward, done = env.step(torch.zeros(800, 6, device="cuda"))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from rlmeta.core.errors import ConfigError
from rlmeta.envs.meta import meta_env_class
from rlmeta.envs.meta.cheetah import CTRL_COST

BACKENDS = ("mujoco", "warp")


# ---------------------------------------------------------------------- per-task rewards in torch
def cheetah_vel_reward(v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """-|v - goal velocity|.  v [N], task [N, 1] -> [N]"""
    return -(v - task[:, 0]).abs()


def cheetah_dir_reward(v: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
    """direction * v.  v [N], task [N, 1] -> [N]"""
    return task[:, 0] * v


CHEETAH_REWARDS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cheetah-vel": cheetah_vel_reward,
    "cheetah-dir": cheetah_dir_reward,
}


def ant_dir_reward(info: dict[str, torch.Tensor], task: torch.Tensor) -> torch.Tensor:
    """direction * forward + healthy - ctrl - contact, from Ant-v5's reward terms (gymnasium's info
    names; the costs are stored negated).  info values [N], task [N, 1] -> [N]"""
    return task[:, 0] * info["reward_forward"] + info["reward_survive"] + info["reward_ctrl"] + info["reward_contact"]


PHYSICS = {"cheetah-vel": "HalfCheetah-v5", "cheetah-dir": "HalfCheetah-v5", "ant-dir": "Ant-v5"}  # family -> env id


# ---------------------------------------------------------------------- physics
class _MujocoPhysics:
    """MujocoBatchBackend (numpy, float64) seen as tensors; its own gymnasium reward is ignored (the
    family re-weights its reward terms, `info`)."""

    def __init__(self, env_id: str, num_envs: int, threads: int):
        from rlmeta.envs.mujoco.batched import MujocoBatchBackend

        self.b = MujocoBatchBackend(env_id, num_envs, threads=threads)
        self.dt = self.b.task.dt
        self.max_episode_steps = self.b.max_episode_steps
        self.device, self.dtype = torch.device("cpu"), torch.float64
        self.info: dict[str, torch.Tensor] = {}

    def x(self) -> torch.Tensor:  # [N] root x position
        return torch.from_numpy(self.b.qpos[:, 0].copy())

    def reset(self, seed: int) -> torch.Tensor:
        return torch.from_numpy(self.b.reset(seed))

    def step(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> final observation [N, obs_dim] (before any autoreset), terminated [N]; reward terms in info."""
        _, _, terminated, _, final_obs = self.b.step(a.numpy())
        self.info = {k: torch.from_numpy(v) for k, v in self.b.info.items()}
        return torch.from_numpy(final_obs), torch.from_numpy(terminated)

    def close(self) -> None:
        self.b.close()


class _WarpPhysics:
    """WarpBackend: torch views of the mujoco-warp worlds (float32) on `device`."""

    def __init__(self, env_id: str, num_envs: int, device: str | torch.device):
        try:
            from rlmeta.envs.mujoco.warp_backend import WarpBackend
        except ImportError as e:
            raise ConfigError(f"backend 'warp' needs the gpu extra: pip install -e '.[gpu]' ({e})") from None
        self.b = WarpBackend(env_id, num_envs, device=device)
        self.dt = self.b.task.dt
        self.max_episode_steps = self.b.max_episode_steps
        self.device, self.dtype = self.b.device, torch.float32
        self.info: dict[str, torch.Tensor] = {}

    def x(self) -> torch.Tensor:
        return self.b.qpos[:, 0].clone()  # a copy: the view changes with the next step

    def reset(self, seed: int) -> torch.Tensor:
        return self.b.reset(seed)

    def step(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, terminated, _, final_obs = self.b.step(a)
        self.info = self.b.info
        return final_obs, terminated

    def close(self) -> None:
        self.b.close()


# ---------------------------------------------------------------------- the env
class TorchMetaEnv:
    """One vector env of `num_envs` worlds, each with its own task row; the MetaVecEnv API on tensors.

    `set_task(task)`: [task_dim] or [1, task_dim] for every world, or [N, task_dim] one per world;
    `set_task_batch(tasks [M, task_dim], rollouts)`: world m * R + r gets task m;
    `reset(seed) -> obs [N, obs_dim]`; `step(actions [N, act_dim]) -> obs, reward [N], done [N] bool`.
    Fixed-horizon episodes started together, no autoreset, as envs/meta/base.py: a point world that
    reached its goal reports done once and is frozen. Actions are clipped to the box before the
    physics and the control cost.
    """

    is_torch = True  # agents/maml/rl.py's sampler hands it tensors on `device`, not numpy arrays

    def __init__(
        self, family: str, num_envs: int, backend: str = "mujoco", device: str | torch.device = "cpu", threads: int = 0
    ):
        cls = meta_env_class(family)  # ConfigError for an unknown family
        if family not in (*PHYSICS, "point"):
            raise ConfigError(f"task-batched torch envs support {', '.join((*PHYSICS, 'point'))}, not {family}")
        if backend not in BACKENDS:
            raise ConfigError(f"unknown meta env backend '{backend}'; choose from {', '.join(BACKENDS)}")
        self.family, self.backend, self.num_envs = family, backend, num_envs
        self.obs_dim, self.act_dim, self.task_dim, self.horizon = cls.obs_dim, cls.act_dim, cls.task_dim, cls.horizon
        self.sample_tasks = cls.sample_tasks  # the family's task distribution: [n, task_dim] numpy
        self.physics: _MujocoPhysics | _WarpPhysics | None = None
        if family == "point":  # no simulator: the state is the position itself
            self.device, self.dtype = torch.device(device), torch.float64
        else:
            env_id = PHYSICS[family]
            self.physics = (
                _MujocoPhysics(env_id, num_envs, threads)
                if backend == "mujoco"
                else _WarpPhysics(env_id, num_envs, device)
            )
            self.device, self.dtype = self.physics.device, self.physics.dtype
        f = dict(dtype=self.dtype, device=self.device)
        self.act_low, self.act_high = torch.as_tensor(cls.act_low, **f), torch.as_tensor(cls.act_high, **f)
        self.tasks = torch.zeros(num_envs, self.task_dim, **f)  # [N, task_dim]
        self.pos = torch.zeros(num_envs, 2, **f)  # point only
        self.done = torch.zeros(num_envs, dtype=torch.bool, device=self.device)
        self._obs: torch.Tensor | None = None  # ant-dir: the last observation, frozen where done
        self._t = 0  # steps since reset (host int: the HalfCheetah time-limit check needs no sync)

    # ------------------------------------------------------------------ tasks
    def set_task(self, task: torch.Tensor | np.ndarray | list) -> None:
        t = torch.as_tensor(task, dtype=self.dtype, device=self.device).reshape(-1, self.task_dim)
        if t.shape[0] not in (1, self.num_envs):
            raise ValueError(f"set_task: got {t.shape[0]} tasks for {self.num_envs} sub-envs")
        self.tasks = t.expand(self.num_envs, self.task_dim).clone()

    def set_task_batch(self, tasks: torch.Tensor | np.ndarray, rollouts: int) -> None:
        """tasks [M, task_dim] with M * rollouts == num_envs: world m * R + r runs task m."""
        t = torch.as_tensor(tasks, dtype=self.dtype, device=self.device).reshape(-1, self.task_dim)
        if t.shape[0] * rollouts != self.num_envs:
            raise ValueError(f"set_task_batch: {t.shape[0]} tasks x {rollouts} rollouts != {self.num_envs} sub-envs")
        self.tasks = t.repeat_interleave(rollouts, dim=0)

    def get_task(self) -> torch.Tensor:  # [N, task_dim]
        return self.tasks.clone()

    # ------------------------------------------------------------------ dynamics
    def clip(self, actions: torch.Tensor | np.ndarray) -> torch.Tensor:
        a = torch.as_tensor(actions, dtype=self.dtype, device=self.device)
        return torch.clamp(a, self.act_low, self.act_high)

    def reset(self, seed: int) -> torch.Tensor:
        self._t = 0
        self.done.zero_()
        if self.physics is None:
            self.pos.zero_()
            return self.pos.clone()
        self._obs = self.physics.reset(seed)
        return self._obs.clone()

    def step(self, actions: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self.clip(actions)  # [N, act_dim]
        if self.physics is None:
            return self._point_step(a)
        if self._t + 1 >= self.physics.max_episode_steps:  # the backend would autoreset mid-rollout
            raise RuntimeError(
                f"meta-RL horizon exceeds {PHYSICS[self.family]}'s {self.physics.max_episode_steps}-step limit"
            )
        self._t += 1
        if self.family == "ant-dir":
            return self._ant_step(a)
        x_before = self.physics.x()
        obs, _ = self.physics.step(a)
        v = (self.physics.x() - x_before) / self.physics.dt  # [N] forward velocity
        reward = CHEETAH_REWARDS[self.family](v, self.tasks) - CTRL_COST * a.square().sum(dim=1)
        return obs, reward, torch.zeros_like(self.done)  # HalfCheetah never terminates

    def _ant_step(self, a: torch.Tensor):
        live = ~self.done
        final_obs, terminated = self.physics.step(a)  # [N, 105], [N]; fallen worlds autoreset in the backend
        reward = torch.where(live, ant_dir_reward(self.physics.info, self.tasks), 0.0)
        self._obs = torch.where(live[:, None], final_obs, self._obs)  # finished worlds are frozen
        newly = live & terminated.to(self.device)
        self.done |= newly
        return self._obs.clone(), reward, newly

    def _point_step(self, a: torch.Tensor):
        live = ~self.done
        self.pos = torch.where(live[:, None], self.pos + a, self.pos)  # finished worlds are frozen
        delta = self.pos - self.tasks
        reward = -delta.square().sum(dim=1).sqrt()
        newly = live & (delta.abs() < 0.01).all(dim=1)
        self.done |= newly
        self._t += 1
        return self.pos.clone(), reward, newly

    def close(self) -> None:
        if self.physics is not None:
            self.physics.close()
