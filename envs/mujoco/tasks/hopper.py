"""Hopper-v5 (gymnasium/envs/mujoco/hopper_v5.py): hop forward in the plane without falling.

observation = qpos[1:], clip(qvel, -10, 10)                   (11)
healthy     = every entry of (qpos, qvel)[2:] in (-100, 100), z = qpos[1] > 0.7 and
              angle = qpos[2] in (-0.2, 0.2), all strict; the episode terminates when unhealthy
reward      = (forward_w * dx/dt + healthy * 1) - ctrl_w * sum(a^2)    x = qpos[0]
reset       qpos + U(-s, s), qvel + U(-s, s)                  s = 5e-3
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import PlanarWalker


class Hopper(PlanarWalker):
    env_id = "Hopper-v5"
    kwargs = (*PlanarWalker.kwargs, "healthy_state_range")

    def setup(self, u):
        super().setup(u)
        self.state_range = tuple(u._healthy_state_range)

    def healthy(self, s):  # [N] bool: Walker2d's z and angle terms, and every state entry in range
        state = self.xp.concatenate([s.qpos, s.qvel], axis=1)[:, 2:]
        lo, hi = self.state_range
        return ((lo < state) & (state < hi)).all(axis=1) & super().healthy(s)
