"""Meta-RL task families: each reward recomputed by hand from the state before/after a step."""

from __future__ import annotations

import numpy as np
import pytest

from rlmeta.envs.meta import make_meta_env


def _random_actions(rng, n, d, scale=1.5):
    return rng.uniform(-scale, scale, size=(n, d))  # partly outside the box: clipping is tested too


@pytest.mark.parametrize("name", ["cheetah-vel", "cheetah-dir"])
def test_cheetah_rewards_from_qpos(name):
    env = make_meta_env(name, num_envs=4, threads=1)
    rng = np.random.default_rng(0)
    tasks = (
        np.array([[0.0], [0.7], [2.0], [1.3]]) if name == "cheetah-vel" else np.array([[1.0], [-1.0], [-1.0], [1.0]])
    )
    env.set_task(tasks)
    assert np.array_equal(env.get_task(), tasks)
    env.reset(seed=0)
    for _ in range(5):
        a = _random_actions(rng, 4, 6)
        x_before = env.backend.qpos[:, 0].copy()
        _, reward, done = env.step(a)
        v = (env.backend.qpos[:, 0] - x_before) / env.dt
        ctrl = 0.05 * (np.clip(a, -1, 1) ** 2).sum(1)
        task_term = -np.abs(v - tasks[:, 0]) if name == "cheetah-vel" else tasks[:, 0] * v
        np.testing.assert_allclose(reward, task_term - ctrl, rtol=0, atol=1e-12)
        assert not done.any()
    assert np.abs(v).max() > 0.05  # the test moved the cheetah
    env.close()


def test_cheetah_set_task_changes_only_the_task_term():
    """Same seed and actions under two goals: identical physics, rewards differ by the goal term."""
    out = {}
    for goal in (0.5, 1.5):
        env = make_meta_env("cheetah-vel", num_envs=2, threads=1)
        env.set_task([goal])  # one task broadcast to every sub-env
        assert np.array_equal(env.get_task(), [[goal], [goal]])
        env.reset(seed=3)
        rng = np.random.default_rng(1)
        x0 = env.backend.qpos[:, 0].copy()
        _, r, _ = env.step(_random_actions(rng, 2, 6))
        out[goal] = (r, (env.backend.qpos[:, 0] - x0) / env.dt)
        env.close()
    (r1, v1), (r2, v2) = out[0.5], out[1.5]
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_allclose(r1 - r2, -np.abs(v1 - 0.5) + np.abs(v1 - 1.5), atol=1e-12)


def test_task_distributions():
    rng = np.random.default_rng(0)
    vel = make_meta_env("cheetah-vel", 1, threads=1).sample_tasks(1000, rng)
    assert vel.shape == (1000, 1) and vel.min() >= 0 and vel.max() <= 2 and vel.std() > 0.5
    d = make_meta_env("cheetah-dir", 1, threads=1).sample_tasks(1000, rng)
    assert set(np.unique(d)) == {-1.0, 1.0}
    g = make_meta_env("point", 1).sample_tasks(1000, rng)
    assert g.shape == (1000, 2) and np.abs(g).max() <= 0.5


def test_ant_direction_reward():
    env = make_meta_env("ant-dir", num_envs=2)
    env.set_task([[1.0], [-1.0]])
    env.reset(seed=0)
    for e in env.envs[1:]:  # same start state in both sub-envs: they differ only by direction
        e.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = _random_actions(rng, 1, env.act_dim).repeat(2, 0)
        x_before = [e.data.body("torso").xpos[0] for e in env.envs]
        _, reward, done = env.step(a)
        u = env.envs[0]
        v = np.array([(e.data.body("torso").xpos[0] - xb) / u.dt for e, xb in zip(env.envs, x_before)])
        assert v[0] == v[1]
        ctrl = 0.5 * (np.clip(a[0], -1, 1) ** 2).sum()
        contact = 5e-4 * (np.clip(u.data.cfrc_ext[1:], -1, 1) ** 2).sum()
        expected = np.array([1.0, -1.0]) * v + 1.0 - ctrl - contact
        np.testing.assert_allclose(reward, expected, atol=1e-10)
        assert not done.any()
    env.close()


def test_point_goal_reward_and_termination():
    env = make_meta_env("point", num_envs=3)
    goals = np.array([[0.3, -0.2], [0.05, 0.0], [-0.5, 0.5]])
    env.set_task(goals)
    assert np.array_equal(env.reset(seed=0), np.zeros((3, 2)))
    a = np.array([[0.5, -0.5], [0.05, 0.0], [-0.02, 0.03]])  # row 0 is clipped to +-0.1
    obs, reward, done = env.step(a)
    pos = np.clip(a, -0.1, 0.1)
    np.testing.assert_allclose(obs, pos)
    np.testing.assert_allclose(reward, -np.linalg.norm(pos - goals, axis=1), atol=1e-15)
    assert done.tolist() == [False, True, False]  # sub-env 1 reached its goal exactly
    obs2, _, done2 = env.step(a)
    np.testing.assert_allclose(obs2[1], obs[1])  # a finished sub-env is frozen
    assert not done2.any()
