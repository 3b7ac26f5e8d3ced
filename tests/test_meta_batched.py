"""Task-batched torch meta-RL envs (envs/meta/batched.py) against the numpy families of envs/meta.

M tasks x R rollouts in one TorchMetaEnv must give, world block by world block, what M separate
single-task numpy envs (each with its one task broadcast to its R worlds) give from the same seeds
and actions: bitwise the same physics and the same rewards on the CPU MuJoCo backend; on the warp
backend (float32, Warp's CPU device here) the same rewards to float32 tolerance, one step at a time
from the numpy env's state.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlmeta.core.errors import ConfigError
from rlmeta.envs.meta import make_meta_env
from rlmeta.envs.meta.batched import TorchMetaEnv

M, R = 3, 2  # tasks x rollouts per task
TASKS = {
    "cheetah-vel": np.array([[0.2], [1.9], [1.0]]),
    "cheetah-dir": np.array([[1.0], [-1.0], [-1.0]]),
    "ant-dir": np.array([[1.0], [-1.0], [1.0]]),
    "point": np.array([[0.3, -0.2], [0.05, 0.0], [-0.5, 0.5]]),
}


def _single_task_envs(family: str, seed: int):
    """M numpy envs of R worlds, env m running task m only, seeded as worlds m*R .. m*R+R-1 of the
    batch (the backends seed world i with seed + i). -> (envs, their reset observations [M*R, obs_dim])"""
    envs, obs = [], []
    for m, task in enumerate(TASKS[family]):
        e = make_meta_env(family, R, **({"threads": 1} if family.startswith("cheetah") else {}))
        e.set_task(task)  # one task, broadcast to the env's R worlds
        obs.append(e.reset(seed=seed + m * R))
        envs.append(e)
    return envs, np.concatenate(obs)


def _actions(rng, family, steps):
    if family == "point":
        a = rng.uniform(-0.15, 0.15, size=(steps, M * R, 2))  # partly outside [-0.1, 0.1]
        a[:, 2] = (0.05, 0.0)  # world 2 (task 1, goal (0.05, 0)) lands on its goal: termination is exercised
        return a
    return rng.uniform(-1.5, 1.5, size=(steps, M * R, 6))  # partly outside [-1, 1]: clipping is tested


@pytest.mark.parametrize("family", ["cheetah-vel", "cheetah-dir", "point"])
def test_task_batch_equals_single_task_families(family):
    env = TorchMetaEnv(family, M * R, backend="mujoco", threads=1)
    env.set_task_batch(torch.as_tensor(TASKS[family]), rollouts=R)
    assert torch.equal(env.get_task(), torch.as_tensor(TASKS[family]).repeat_interleave(R, 0))  # world m*R+r: task m
    refs, ref_obs = _single_task_envs(family, seed=5)
    np.testing.assert_array_equal(env.reset(seed=5).numpy(), ref_obs)
    done_seen = False
    for a in _actions(np.random.default_rng(0), family, 8):
        obs, reward, done = env.step(torch.as_tensor(a))
        ref = [e.step(a[m * R : (m + 1) * R]) for m, e in enumerate(refs)]
        np.testing.assert_array_equal(obs.numpy(), np.concatenate([o for o, _, _ in ref]))
        np.testing.assert_allclose(reward.numpy(), np.concatenate([r for _, r, _ in ref]), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(done.numpy(), np.concatenate([d for _, _, d in ref]))
        assert reward.dtype == torch.float64 and done.dtype == torch.bool
        done_seen |= bool(done.any())
    assert done_seen == (family == "point")  # the point world on its goal finished once
    if family != "point":
        assert reward.std() > 0.1  # the tasks pay differently for the same kind of motion
    env.close()
    for e in refs:
        e.close()


def test_ant_dir_task_batch_equals_gymnasium_ant_dir():
    """ant-dir on the batched MuJoCo backend (Ant-v5's rules, envs/mujoco/tasks/ant.py, re-weighted) against
    envs/meta/ant.py (gymnasium's Ant envs and their info terms), M = 3 tasks x R = 2: the same observations
    and done flags bit for bit, rewards to 1e-12, over random actions (partly outside the box) that topple
    some Ants: a fallen world reports done once, then stays frozen (last observation, reward 0)."""
    env = TorchMetaEnv("ant-dir", M * R, backend="mujoco", threads=1)
    env.set_task_batch(TASKS["ant-dir"], rollouts=R)
    refs, ref_obs = _single_task_envs("ant-dir", seed=3)
    np.testing.assert_array_equal(env.reset(seed=3).numpy(), ref_obs)
    rng = np.random.default_rng(0)
    dones = np.zeros(M * R, bool)
    for _ in range(60):
        a = rng.uniform(-1.5, 1.5, size=(M * R, 8))
        obs, reward, done = env.step(torch.as_tensor(a))
        ref = [e.step(a[m * R : (m + 1) * R]) for m, e in enumerate(refs)]
        np.testing.assert_array_equal(obs.numpy(), np.concatenate([o for o, _, _ in ref]))
        np.testing.assert_allclose(reward.numpy(), np.concatenate([r for _, r, _ in ref]), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(done.numpy(), np.concatenate([d for _, _, d in ref]))
        assert not (done.numpy() & dones).any()  # done once
        dones |= done.numpy()
        assert (reward.numpy()[dones & ~done.numpy()] == 0).all()  # frozen after
    assert 1 <= dones.sum() < M * R
    env.close()
    for e in refs:
        e.close()


@pytest.mark.parametrize("family", ["cheetah-vel", "cheetah-dir"])
def test_warp_backend_rewards_equal_numpy_family(family):
    """Each step: copy the numpy family's (qpos, qvel) into the warp worlds, same actions, same rewards
    to float32 tolerance (as tests/test_warp_backend.py does for gymnasium's own reward)."""
    pytest.importorskip("mujoco_warp")
    env = TorchMetaEnv(family, M * R, backend="warp", device="cpu")
    env.set_task_batch(TASKS[family], rollouts=R)
    refs, _ = _single_task_envs(family, seed=7)
    env.reset(seed=7)
    for a in _actions(np.random.default_rng(1), family, 6):
        qpos = np.concatenate([e.backend.qpos for e in refs])
        qvel = np.concatenate([e.backend.qvel for e in refs])
        env.physics.b.set_state(qpos, qvel, elapsed=0)
        obs, reward, done = env.step(torch.as_tensor(a, dtype=torch.float32))
        ref = [e.step(a[m * R : (m + 1) * R]) for m, e in enumerate(refs)]
        assert reward.dtype == torch.float32 and obs.shape == (M * R, 17) and not done.any()
        np.testing.assert_allclose(reward.numpy(), np.concatenate([r for _, r, _ in ref]), atol=2e-3)
        np.testing.assert_allclose(obs.numpy(), np.concatenate([o for o, _, _ in ref]), rtol=1e-3, atol=2e-3)
    env.close()


def test_ant_dir_on_the_warp_backend():
    """ant-dir on mujoco-warp worlds (Warp's CPU device): float32 on the device, the reward is the
    direction-weighted sum of the backend's Ant-v5 terms (those are checked against gymnasium in
    tests/test_warp_backend.py)."""
    pytest.importorskip("mujoco_warp")
    env = TorchMetaEnv("ant-dir", 4, backend="warp", device="cpu")
    env.set_task([[1.0], [-1.0], [1.0], [-1.0]])
    obs = env.reset(seed=0)
    assert obs.shape == (4, 105) and obs.dtype == torch.float32
    for _ in range(3):
        obs, reward, done = env.step(torch.zeros(4, 8))
        info = env.physics.info
        expected = (
            env.tasks[:, 0] * info["reward_forward"]
            + info["reward_survive"]
            + info["reward_ctrl"]
            + info["reward_contact"]
        )
        torch.testing.assert_close(reward, expected)
        assert obs.shape == (4, 105) and done.dtype == torch.bool and not done.any()
    env.close()


def test_set_task_broadcasts_and_checks_shapes():
    env = TorchMetaEnv("point", 4)
    env.set_task([0.1, 0.2])  # one task for every world
    assert torch.equal(env.get_task(), torch.tensor([[0.1, 0.2]] * 4, dtype=torch.float64))
    with pytest.raises(ValueError):
        env.set_task(torch.zeros(3, 2))
    with pytest.raises(ValueError):
        env.set_task_batch(torch.zeros(3, 2), rollouts=2)
    rng = np.random.default_rng(0)
    assert np.array_equal(env.sample_tasks(5, rng), make_meta_env("point", 1).sample_tasks(5, np.random.default_rng(0)))


def test_unsupported_family_and_backend_are_config_errors():
    with pytest.raises(ConfigError, match="unknown task family"):
        TorchMetaEnv("ant-vel", 2)
    with pytest.raises(ConfigError, match="backend"):
        TorchMetaEnv("cheetah-vel", 2, backend="jax")
