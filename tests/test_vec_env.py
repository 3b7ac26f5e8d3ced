"""Vector envs: normaliser statistics, episode statistics, batched MuJoCo == gymnasium to the bit."""

import numpy as np
import pytest

from rlmeta.core.errors import ConfigError
from rlmeta.core.vec_env import RunningMeanStd
from rlmeta.envs import make_vec_env
from rlmeta.envs.gym_backend import GymBackend
from rlmeta.envs.mujoco.batched import MujocoBatchBackend


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 4))
    rms = RunningMeanStd((4,), epsilon=0.0)
    for chunk in np.array_split(data, 17):
        rms.update(chunk)
    assert np.allclose(rms.mean, data.mean(0), atol=1e-10)
    assert np.allclose(rms.var, data.var(0), atol=1e-10)


@pytest.mark.parametrize(
    "env_id,steps,limit",
    [
        ("HalfCheetah-v5", 1015, None),
        ("Hopper-v5", 300, None),
        ("Walker2d-v5", 300, None),
        ("Swimmer-v5", 300, 120),
        ("Ant-v5", 300, None),
        ("Humanoid-v5", 300, None),
    ],
)
def test_mujoco_backend_equals_gymnasium_bitwise(env_id, steps, limit):
    """Same seed and actions: identical obs, rewards, termination, truncation and final obs, across
    autoresets (HalfCheetah truncates at 1000, Swimmer at a 120-step limit, random Hopper, Walker2d,
    Ant and Humanoid terminate often) and a fresh seeded reset mid-episode. Ant's and Humanoid's
    observations carry contact forces (cfrc_ext), Humanoid's also cinert, cvel and qfrc_actuator."""
    kw = {"max_episode_steps": limit} if limit else {}
    a, b = GymBackend(env_id, 3, **kw), MujocoBatchBackend(env_id, 3, threads=2, **kw)
    assert np.array_equal(a.reset(11), b.reset(11))
    rng = np.random.default_rng(0)
    dones, contact = 0, 0.0
    for t in range(steps):
        if t == 10:  # mid-episode
            assert np.array_equal(a.reset(12), b.reset(12))
        act = rng.uniform(-1, 1, (3, a.single_action_space.shape[0]))
        ra, rb = a.step(act), b.step(act)
        for x, y in zip(ra, rb):
            assert np.array_equal(np.asarray(x, float), np.asarray(y, float))
        dones += int((ra[2] | ra[3]).sum())
        contact = max(contact, float(np.abs(b.info.get("reward_contact", 0.0)).max()))
    assert dones >= 3
    if env_id in ("Ant-v5", "Humanoid-v5"):
        assert contact > 1e-3  # the contact forces were not all zero: cfrc_ext was exercised
    a.close()
    b.close()


def test_mujoco_backend_refuses_unsupported_kwargs():
    with pytest.raises(ConfigError, match=r"Ant-v5 on rlmeta's MuJoCo backends takes only .*not include_cfrc_ext"):
        MujocoBatchBackend("Ant-v5", 2, include_cfrc_ext_in_observation=False)
    b = MujocoBatchBackend("Walker2d-v5", 2, threads=1, ctrl_cost_weight=0.5)  # a constant: read from the env
    assert b.task.ctrl_w == 0.5
    b.close()


def test_vec_env_episode_stats_and_normalisation():
    envs = make_vec_env("Hopper-v5", num_envs=4, seed=0, normalize_obs=True)
    obs = envs.reset()
    assert obs.shape == (4, 11) and obs.dtype == np.float32
    rets, raw_sum = [], np.zeros(4)
    rng = np.random.default_rng(0)
    # shadow a raw backend with the same seed to recompute returns independently
    shadow = MujocoBatchBackend("Hopper-v5", 4, threads=1)
    shadow.reset(0)
    for _ in range(200):
        act = rng.uniform(-1, 1, (4, 3))
        out = envs.step(act)
        _, r, te, tr, _ = shadow.step(act)
        raw_sum += r
        done = te | tr
        rets.extend(raw_sum[done].tolist())
        raw_sum[done] = 0
        assert np.abs(out.obs).max() <= 10.0
    # the statistics kept by the wrapper are the raw (unnormalised) episode returns
    envs2 = make_vec_env("Hopper-v5", num_envs=4, seed=0)
    envs2.reset()
    got = []
    rng = np.random.default_rng(0)
    for _ in range(200):
        got.extend(envs2.step(rng.uniform(-1, 1, (4, 3))).episode_returns.tolist())
    assert got == pytest.approx(rets)
    assert len(rets) > 4


def test_unknown_env_and_backend_errors():
    with pytest.raises(ConfigError, match=r"unknown env 'HalfCheeta-v5'.*HalfCheetah-v5"):
        make_vec_env("HalfCheeta-v5")
    with pytest.raises(ConfigError, match="mujoco supports"):
        make_vec_env("Pendulum-v1", backend="mujoco")
