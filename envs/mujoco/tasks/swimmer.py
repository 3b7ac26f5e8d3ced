"""Swimmer-v5 (gymnasium/envs/mujoco/swimmer_v5.py): swim forward in a viscous fluid; never terminates.

    observation = qpos[2:], qvel                                  (8: the root x and y are left out)
    reward      = forward_w * dx/dt - ctrl_w * sum(a^2)           x = qpos[0] (the root slider, not a
                                                                  body position), ctrl_w 1e-4
    reset       qpos + U(-s, s), qvel + U(-s, s)                  s = 0.1
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import Task


class Swimmer(Task):
    env_id = "Swimmer-v5"
    kwargs = ("frame_skip", "forward_reward_weight", "ctrl_cost_weight", "reset_noise_scale")

    def setup(self, u):
        self.forward_w, self.ctrl_w = u._forward_reward_weight, u._ctrl_cost_weight

    def forward_position(self, s):
        return s.qpos[:, 0]

    def observation(self, s):
        return self.xp.concatenate([s.qpos[:, 2:], s.qvel], axis=1)

    def reward(self, s, x_velocity, action):
        forward_reward = self.forward_w * x_velocity
        ctrl_cost = self.control_cost(self.ctrl_w, action)
        reward = forward_reward - ctrl_cost
        return reward, self.never(reward), {"reward_forward": forward_reward, "reward_ctrl": -ctrl_cost}
