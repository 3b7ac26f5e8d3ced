"""Walker2d-v5 (gymnasium/envs/mujoco/walker2d_v5.py): walk forward in the plane on two legs.

    observation = qpos[1:], clip(qvel, -10, 10)                   (17)
    healthy     = z = qpos[1] in (0.8, 2.0) and angle = qpos[2] in (-1, 1), strict (no state-range
                  check, unlike Hopper); the episode terminates when unhealthy
    reward      = (forward_w * dx/dt + healthy * 1) - ctrl_w * sum(a^2)    x = qpos[0], ctrl_w 1e-3
    reset       qpos + U(-s, s), qvel + U(-s, s)                  s = 5e-3
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import Task


class Walker2d(Task):
    env_id = "Walker2d-v5"
    kwargs = ("frame_skip", "forward_reward_weight", "ctrl_cost_weight", "healthy_reward", "terminate_when_unhealthy",
              "healthy_z_range", "healthy_angle_range", "reset_noise_scale")

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
        return reward, terminated, {"reward_forward": forward_reward, "reward_ctrl": -ctrl_cost,
                                    "reward_survive": healthy_reward}
