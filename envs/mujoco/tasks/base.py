"""The shape of one task's rules, written once for both MuJoCo backends.

A task is gymnasium v5's reward, termination, observation and reset noise, re-written over a batch of
N worlds in an array namespace `xp`: numpy on the batched CPU backend (float64, equal to gymnasium
to the bit), torch on the mujoco-warp backend (float32 tensors on the device). Only operations that
both namespaces spell the same are used (xp.concatenate, xp.clip, xp.square, xp.einsum, xp.isfinite,
xp.zeros_like, .sum(axis=), .all(axis=), .reshape). Each term is written in gymnasium's order of
operations, since float addition is not associative and the CPU backend must match to the bit.

The backends own the physics; a task reads the simulator state they hand it:

    s.qpos [N, nq], s.qvel [N, nv], and each MjData field named in `fields`, batched: e.g.
    s.xpos [N, nbody, 3], s.cfrc_ext [N, nbody, 6], s.cinert [N, nbody, 10]

A field is read where gymnasium reads it: after `frame_skip` physics steps (then
mj_rnePostConstraint, as gymnasium's MujocoEnv does, when cfrc_ext is among the fields), or after a
reset's mj_forward. Constants (reward weights, healthy ranges, noise scale, dt) are read from the
gymnasium env itself, never hard-coded, so a gymnasium kwarg that only changes a constant works; any
other kwarg is refused (`check_kwargs`).

Example (a new task is one file like tasks/swimmer.py, registered in tasks/__init__.py):
    >>> task = Swimmer(gym.make("Swimmer-v5"), xp=np)
    >>> obs = task.observation(s)                                   # [N, 8]
    >>> reward, terminated, info = task.reward(s, x_velocity, action)
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rlmeta.core.errors import ConfigError

# gym.make's own arguments, handled by gymnasium's wrappers rather than by a task's rules
MAKE_KWARGS = ("max_episode_steps",)


class State(SimpleNamespace):
    """The batched simulator state a task reads: qpos, qvel and the task's `fields`, [N, ...] each."""


class Task:
    """gymnasium v5 semantics of one locomotion task over a batch, in the array namespace `xp`.

    Subclasses set the class attributes and write `forward_position`, `observation` and `reward`.
    `asarray` turns a constant array (e.g. body masses) into the namespace's array type (torch: a
    float32 tensor on the worlds' device).
    """

    env_id: ClassVar[str]
    fields: ClassVar[tuple[str, ...]] = ()
    """MjData fields the rules read besides qpos and qvel."""
    qvel_noise: ClassVar[str] = "uniform"
    """Reset: qpos = init_qpos + U(-s, s); qvel = init_qvel + U(-s, s) ("uniform") or + s * N(0, 1) ("normal")."""
    kwargs: ClassVar[tuple[str, ...]] = ()
    """gymnasium kwargs of the env id whose values the rules read from the env (others are refused)."""

    def __init__(self, env: gym.Env, xp: Any = np, asarray: Callable | None = None):
        self.xp = xp
        self.asarray = asarray or xp.asarray
        u = env.unwrapped
        self.dt = float(u.dt)  # frame_skip * timestep: the denominator of every velocity
        self.reset_noise_scale = float(u._reset_noise_scale)
        self.setup(u)

    @property
    def rne_post_constraint(self) -> bool:
        """Whether the backend must run mj_rnePostConstraint after the physics steps (cfrc_ext is read)."""
        return "cfrc_ext" in self.fields

    # ------------------------------------------------------------------ written by each task
    def setup(self, u: gym.Env) -> None:
        """Read the constants off the unwrapped gymnasium env."""

    def forward_position(self, s: State):
        """[N]: the coordinate whose change over dt is the forward velocity of the reward."""
        raise NotImplementedError

    def observation(self, s: State):
        """[N, obs_dim]."""
        raise NotImplementedError

    def reward(self, s: State, x_velocity, action) -> tuple[Any, Any, dict[str, Any]]:
        """-> reward [N], terminated [N] bool, and gymnasium's reward terms by its info names
        (reward_forward, reward_ctrl, ...: [N] each), which task families re-weight (envs/meta)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared pieces
    def control_cost(self, weight: float, action):
        """weight * sum(a^2): [N, act_dim] -> [N]."""
        return weight * self.xp.square(action).sum(axis=1)

    def never(self, like):
        """[N] bool, all False: the termination of a task that never terminates."""
        return self.xp.zeros_like(like, dtype=bool)


class PlanarRunner(Task):
    """A body in the plane that runs (or swims) forward and never terminates: HalfCheetah, Swimmer.

    observation = qpos[obs_skip:], qvel                           (the root coordinates are left out)
    reward      = forward_w * dx/dt - ctrl_w * sum(a^2)           x = qpos[0], the root slider
    """

    obs_skip: ClassVar[int] = 1
    """How many leading qpos entries (the root's position) the observation leaves out."""
    kwargs = ("frame_skip", "forward_reward_weight", "ctrl_cost_weight", "reset_noise_scale")

    def setup(self, u):
        self.forward_w, self.ctrl_w = u._forward_reward_weight, u._ctrl_cost_weight

    def forward_position(self, s):
        return s.qpos[:, 0]

    def observation(self, s):
        return self.xp.concatenate([s.qpos[:, self.obs_skip :], s.qvel], axis=1)

    def reward(self, s, x_velocity, action):
        forward_reward = self.forward_w * x_velocity
        ctrl_cost = self.control_cost(self.ctrl_w, action)
        reward = forward_reward - ctrl_cost
        return reward, self.never(reward), {"reward_forward": forward_reward, "reward_ctrl": -ctrl_cost}


class PlanarWalker(Task):
    """A body in the plane that must stay up while it moves forward: Hopper, Walker2d.

    observation = qpos[1:], clip(qvel, -10, 10)
    healthy     = z = qpos[1] in healthy_z_range and angle = qpos[2] in healthy_angle_range, strict
                  (a subclass may add terms); the episode terminates when unhealthy
    reward      = (forward_w * dx/dt + healthy * healthy_w) - ctrl_w * sum(a^2)    x = qpos[0]
    """

    kwargs = (
        "frame_skip",
        "forward_reward_weight",
        "ctrl_cost_weight",
        "healthy_reward",
        "terminate_when_unhealthy",
        "healthy_z_range",
        "healthy_angle_range",
        "reset_noise_scale",
    )

    def setup(self, u):
        self.forward_w, self.ctrl_w, self.healthy_w = u._forward_reward_weight, u._ctrl_cost_weight, u._healthy_reward
        self.terminate_when_unhealthy = u._terminate_when_unhealthy
        self.z_range, self.angle_range = tuple(u._healthy_z_range), tuple(u._healthy_angle_range)

    def forward_position(self, s):
        return s.qpos[:, 0]

    def observation(self, s):
        return self.xp.concatenate([s.qpos[:, 1:], self.xp.clip(s.qvel, -10, 10)], axis=1)

    def healthy(self, s):  # [N] bool
        z, angle = s.qpos[:, 1], s.qpos[:, 2]
        (z_lo, z_hi), (a_lo, a_hi) = self.z_range, self.angle_range
        return (z_lo < z) & (z < z_hi) & (a_lo < angle) & (angle < a_hi)

    def reward(self, s, x_velocity, action):
        healthy = self.healthy(s)
        forward_reward = self.forward_w * x_velocity
        healthy_reward = healthy * self.healthy_w
        ctrl_cost = self.control_cost(self.ctrl_w, action)
        reward = (forward_reward + healthy_reward) - ctrl_cost
        terminated = ~healthy if self.terminate_when_unhealthy else self.never(reward)
        return (
            reward,
            terminated,
            {"reward_forward": forward_reward, "reward_ctrl": -ctrl_cost, "reward_survive": healthy_reward},
        )


def check_kwargs(task_cls: type[Task], make_kwargs: dict) -> None:
    """Refuse, in one line, a gymnasium kwarg whose meaning the task's rules do not read from the env
    (one that changes the observation's layout, the model file, the body the reward follows, ...)."""
    bad = sorted(set(make_kwargs) - set(task_cls.kwargs) - set(MAKE_KWARGS))
    if bad:
        raise ConfigError(
            f"{task_cls.env_id} on rlmeta's MuJoCo backends takes only the kwargs "
            f"{', '.join(task_cls.kwargs + MAKE_KWARGS)}; not {', '.join(bad)}"
        )


__all__ = ["MAKE_KWARGS", "PlanarRunner", "PlanarWalker", "State", "Task", "check_kwargs"]
