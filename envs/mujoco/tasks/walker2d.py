"""Walker2d-v5 (gymnasium/envs/mujoco/walker2d_v5.py): walk forward in the plane on two legs.

observation = qpos[1:], clip(qvel, -10, 10)                   (17)
healthy     = z = qpos[1] in (0.8, 2.0) and angle = qpos[2] in (-1, 1), strict (no state-range
              check, unlike Hopper); the episode terminates when unhealthy
reward      = (forward_w * dx/dt + healthy * 1) - ctrl_w * sum(a^2)    x = qpos[0], ctrl_w 1e-3
reset       qpos + U(-s, s), qvel + U(-s, s)                  s = 5e-3
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import PlanarWalker


class Walker2d(PlanarWalker):
    env_id = "Walker2d-v5"
