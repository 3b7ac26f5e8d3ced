"""Swimmer-v5 (gymnasium/envs/mujoco/swimmer_v5.py): swim forward in a viscous fluid; never terminates.

observation = qpos[2:], qvel                                  (8: the root x and y are left out)
reward      = forward_w * dx/dt - ctrl_w * sum(a^2)           x = qpos[0] (the root slider, not a
                                                              body position), ctrl_w 1e-4
reset       qpos + U(-s, s), qvel + U(-s, s)                  s = 0.1
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import PlanarRunner


class Swimmer(PlanarRunner):
    env_id = "Swimmer-v5"
    obs_skip = 2
