"""Ant-v5 (gymnasium/envs/mujoco/ant_v5.py): a quadruped runs forward (+x) in 3-D.

    observation = qpos[2:], qvel, clip(cfrc_ext[1:], -1, 1)       (13 + 14 + 13 * 6 = 105; cfrc_ext
                  is the external (contact) wrench on each body but the world, from mj_rnePostConstraint)
    healthy     = every entry of (qpos, qvel) finite and torso z = qpos[2] in [0.2, 1.0], both ends
                  included (Hopper and Walker2d compare strictly); terminates when unhealthy
    reward      = (x_velocity * forward_w + healthy * 1)
                  - (ctrl_w * sum(a^2) + contact_w * sum(clip(cfrc_ext, -1, 1)^2))   ctrl_w 0.5, contact_w 5e-4
    reset       qpos + U(-s, s), qvel + s * N(0, 1)               s = 0.1

x is not qpos[0] but the torso body's world position xpos[main_body = 1, 0], which MuJoCo computes
during a physics step, before integrating qpos: after an RK4 step (Ant's integrator) it is the
kinematics of the fourth stage, within about 1e-5 of qpos[0] but not equal. gymnasium reads it
there, and so do both backends (after a reset's mj_forward it matches qpos).
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import Task


class Ant(Task):
    env_id = "Ant-v5"
    fields = ("xpos", "cfrc_ext")
    qvel_noise = "normal"
    kwargs = (
        "frame_skip",
        "forward_reward_weight",
        "ctrl_cost_weight",
        "contact_cost_weight",
        "healthy_reward",
        "terminate_when_unhealthy",
        "healthy_z_range",
        "contact_force_range",
        "reset_noise_scale",
        "main_body",
    )

    def setup(self, u):
        self.forward_w, self.ctrl_w, self.healthy_w = u._forward_reward_weight, u._ctrl_cost_weight, u._healthy_reward
        self.contact_w, self.contact_range = u._contact_cost_weight, tuple(u._contact_force_range)
        self.terminate_when_unhealthy = u._terminate_when_unhealthy
        self.z_range = tuple(u._healthy_z_range)
        self.main_body = u.model.body(u._main_body).id  # gymnasium's data.body(main_body): an id or a name

    def forward_position(self, s):
        return s.xpos[:, self.main_body, 0]

    def contact_forces(self, s):  # [N, nbody, 6], every body (the world's row is zero)
        return self.xp.clip(s.cfrc_ext, *self.contact_range)

    def observation(self, s):
        n = s.qpos.shape[0]
        contact = self.contact_forces(s)[:, 1:].reshape(n, -1)
        return self.xp.concatenate([s.qpos[:, 2:], s.qvel, contact], axis=1)

    def healthy(self, s):  # [N] bool
        z_lo, z_hi = self.z_range
        finite = self.xp.isfinite(self.xp.concatenate([s.qpos, s.qvel], axis=1)).all(axis=1)
        z = s.qpos[:, 2]
        return finite & (z_lo <= z) & (z <= z_hi)

    def reward(self, s, x_velocity, action):
        healthy = self.healthy(s)
        n = s.qpos.shape[0]
        forward_reward = x_velocity * self.forward_w
        healthy_reward = healthy * self.healthy_w
        ctrl_cost = self.control_cost(self.ctrl_w, action)
        contact_cost = self.contact_w * self.xp.square(self.contact_forces(s)).reshape(n, -1).sum(axis=1)
        reward = (forward_reward + healthy_reward) - (ctrl_cost + contact_cost)
        terminated = ~healthy if self.terminate_when_unhealthy else self.never(reward)
        return (
            reward,
            terminated,
            {
                "reward_forward": forward_reward,
                "reward_ctrl": -ctrl_cost,
                "reward_contact": -contact_cost,
                "reward_survive": healthy_reward,
            },
        )
