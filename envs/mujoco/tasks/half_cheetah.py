"""HalfCheetah-v5 (gymnasium/envs/mujoco/half_cheetah_v5.py): run forward in the plane; never terminates.

observation = qpos[1:], qvel                                  (17: the root x is left out)
reward      = forward_w * dx/dt - ctrl_w * sum(a^2)           x = qpos[0], the root slider
reset       qpos + U(-s, s), qvel + s * N(0, 1)               s = 0.1
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import PlanarRunner


class HalfCheetah(PlanarRunner):
    env_id = "HalfCheetah-v5"
    obs_skip = 1
    qvel_noise = "normal"
