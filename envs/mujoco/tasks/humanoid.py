"""Humanoid-v5 (gymnasium/envs/mujoco/humanoid_v5.py): a 3-D humanoid walks forward without falling.

    observation = qpos[2:], qvel, cinert[1:], cvel[1:], qfrc_actuator[6:], cfrc_ext[1:]
                  (22 + 23 + 13 * 10 + 13 * 6 + 17 + 13 * 6 = 348; the world body and the root's six
                  free-joint dofs are left out)
    healthy     = torso z = qpos[2] in (1.0, 2.0), strict; terminates when unhealthy
    reward      = (forward_w * x_velocity + healthy * 5)
                  - (ctrl_w * sum(ctrl^2) + clip(contact_w * sum(cfrc_ext^2), -inf, 10))
                  forward_w 1.25, ctrl_w 0.1, contact_w 5e-7 (the contact cost is not clipped per entry
                  as Ant's, but as a whole, at 10)
    reset       qpos + U(-s, s), qvel + U(-s, s)                  s = 1e-2

x is the x of the mass centre, sum_b(mass_b * xipos_b) / sum_b(mass_b) over the bodies' centres of
mass (gymnasium's mass_center), read after the physics steps like every derived field (see ant.py).
The control cost uses data.ctrl, which is the action (MuJoCo clamps ctrl to its range internally
but leaves data.ctrl as written).
"""

from __future__ import annotations

from rlmeta.envs.mujoco.tasks.base import Task


class Humanoid(Task):
    env_id = "Humanoid-v5"
    fields = ("xipos", "cinert", "cvel", "qfrc_actuator", "cfrc_ext")
    kwargs = (
        "frame_skip",
        "forward_reward_weight",
        "ctrl_cost_weight",
        "contact_cost_weight",
        "contact_cost_range",
        "healthy_reward",
        "terminate_when_unhealthy",
        "healthy_z_range",
        "reset_noise_scale",
    )

    def setup(self, u):
        self.forward_w, self.ctrl_w, self.healthy_w = u._forward_reward_weight, u._ctrl_cost_weight, u._healthy_reward
        self.contact_w, self.contact_range = u._contact_cost_weight, tuple(u._contact_cost_range)
        self.terminate_when_unhealthy = u._terminate_when_unhealthy
        self.z_range = tuple(u._healthy_z_range)
        self.body_mass = self.asarray(u.model.body_mass)  # [nbody]
        self.total_mass = float(u.model.body_mass.sum())

    def forward_position(self, s):
        # gymnasium: (einsum("b,bj->j", mass, xipos) / total)[0]; batched, the same sums in the same order
        return self.xp.einsum("b,nbj->nj", self.body_mass, s.xipos)[:, 0] / self.total_mass

    def observation(self, s):
        n = s.qpos.shape[0]
        return self.xp.concatenate(
            [
                s.qpos[:, 2:],
                s.qvel,
                s.cinert[:, 1:].reshape(n, -1),
                s.cvel[:, 1:].reshape(n, -1),
                s.qfrc_actuator[:, 6:],
                s.cfrc_ext[:, 1:].reshape(n, -1),
            ],
            axis=1,
        )

    def healthy(self, s):  # [N] bool
        z_lo, z_hi = self.z_range
        z = s.qpos[:, 2]
        return (z_lo < z) & (z < z_hi)

    def reward(self, s, x_velocity, action):
        healthy = self.healthy(s)
        n = s.qpos.shape[0]
        forward_reward = self.forward_w * x_velocity
        healthy_reward = healthy * self.healthy_w
        ctrl_cost = self.control_cost(self.ctrl_w, action)
        contact_cost = self.xp.clip(
            self.contact_w * self.xp.square(s.cfrc_ext).reshape(n, -1).sum(axis=1), *self.contact_range
        )
        reward = (forward_reward + healthy_reward) - (ctrl_cost + contact_cost)
        terminated = ~healthy if self.terminate_when_unhealthy else self.never(reward)
        return (
            reward,
            terminated,
            {
                "reward_survive": healthy_reward,
                "reward_forward": forward_reward,
                "reward_ctrl": -ctrl_cost,
                "reward_contact": -contact_cost,
            },
        )
