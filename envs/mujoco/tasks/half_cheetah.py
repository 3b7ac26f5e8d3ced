"""HalfCheetah-v5 (gymnasium/envs/mujoco/half_cheetah_v5.py): run forward in the plane; never terminates.

    observation = qpos[1:], qvel                                  (17: the root x is left out)
    reward      = forward_w * dx/dt - ctrl_w * sum(a^2)           x = qpos[0], the root slider
    reset       qpos + U(-s, s), qvel + s * N(0, 1)               s = 0.1
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import Task


class HalfCheetah(Task):
    env_id = "HalfCheetah-v5"
    qvel_noise = "normal"
    kwargs = ("frame_skip", "forward_reward_weight", "ctrl_cost_weight", "reset_noise_scale")

    def setup(self, u):
        self.forward_w, self.ctrl_w = u._forward_reward_weight, u._ctrl_cost_weight

    def forward_position(self, s):
        return s.qpos[:, 0]

    def observation(self, s):
        return self.xp.concatenate([s.qpos[:, 1:], s.qvel], axis=1)

    def reward(self, s, x_velocity, action):
        forward_reward = self.forward_w * x_velocity
        ctrl_cost = self.control_cost(self.ctrl_w, action)
        reward = forward_reward - ctrl_cost
        return reward, self.never(reward), {"reward_forward": forward_reward, "reward_ctrl": -ctrl_cost}
