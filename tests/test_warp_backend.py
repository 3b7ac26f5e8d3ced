"""mujoco-warp backend (envs/mujoco/warp_backend.py) against gymnasium v5, on Warp's CPU device.

- one step from the same state and action: reward, termination and observation equal gymnasium's
  to float32 tolerance (over many states, including Hopper terminations);
- a few steps from the same start without re-syncing: still within float32-drift tolerance;
- long horizon: return distributions of a fixed linear policy agree with gymnasium's (through the
  bitwise-equal batched backend) within sampling error;
- SAME_STEP autoreset on truncation (TimeLimit 1000) and termination, reset-noise distributions;
- DeviceVecEnv (torch on a device) == VecEnv (numpy) on the same physics, and the on-policy
  collector's device path == its numpy path;
- make_vec_env(backend="warp") wiring and its ConfigErrors; a short PPO CLI run on the backend.

The first run compiles mujoco-warp's kernels for each model (about 30 s each on 2 cores); Warp caches
them in ~/.cache/warp. Tests that need mujoco-warp skip cleanly without it.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch

from rlmeta.core.errors import ConfigError
from rlmeta.core.rollout import OnPolicyCollector
from rlmeta.core.vec_env import DeviceVecEnv, VecEnv
from rlmeta.envs import make_vec_env
from rlmeta.envs.mujoco.batched import MujocoBatchBackend


@pytest.fixture(scope="module")
def warp_backend():
    """WarpBackend class (skips the test without mujoco-warp)."""
    pytest.importorskip("mujoco_warp")
    pytest.importorskip("warp")
    from rlmeta.envs.mujoco.warp_backend import WarpBackend

    return WarpBackend


def gym_state(envs: list[gym.Env]) -> tuple[np.ndarray, np.ndarray]:
    return (np.stack([e.unwrapped.data.qpos for e in envs]), np.stack([e.unwrapped.data.qvel for e in envs]))


def hopper_margin(qpos: np.ndarray, qvel: np.ndarray) -> float:
    """Distance of a Hopper state to its healthy boundary (z > 0.7, |angle| < 0.2, |state| < 100)."""
    state = np.concatenate([qpos, qvel])[2:]
    return float(min(qpos[1] - 0.7, 0.2 - abs(qpos[2]), 100 - np.abs(state).max()))


# ---------------------------------------------------------------------- per-step agreement
# Physics settings both sides share where mujoco-warp cannot model gymnasium's (see the module
# docstring of envs/mujoco/warp_backend.py): Humanoid's PGS solver (Newton on both sides), Ant's
# pyramidal cone with mujoco-warp's capsule-plane contact frames (elliptic on both sides).
SHARED_OPTIONS = {
    "Humanoid-v5": {"solver": mujoco.mjtSolver.mjSOL_NEWTON},
    "Ant-v5": {"cone": mujoco.mjtCone.mjCONE_ELLIPTIC},
}
# (qpos index, value) that puts world 0 out of the healthy range: the first step must terminate it
UNHEALTHY = {"Walker2d-v5": (1, 2.5), "Ant-v5": (2, 1.5), "Humanoid-v5": (2, 2.5)}


def gym_envs(env_id: str, n: int) -> list[gym.Env]:
    envs = [gym.make(env_id) for _ in range(n)]
    for i, e in enumerate(envs):
        for k, v in SHARED_OPTIONS.get(env_id, {}).items():
            setattr(e.unwrapped.model.opt, k, v)
        e.reset(seed=i)
    return envs


@pytest.mark.parametrize(
    "env_id,steps",
    [
        ("HalfCheetah-v5", 40),
        ("Hopper-v5", 60),
        ("Walker2d-v5", 12),
        ("Swimmer-v5", 12),
        ("Ant-v5", 12),
        ("Humanoid-v5", 12),
    ],
)
def test_one_step_from_gymnasium_state_matches(warp_backend, env_id, steps):
    """Each step: copy gymnasium's (qpos, qvel) into the worlds (and set_state gymnasium to it too, so
    both recompute the derived fields Ant and Humanoid read: xpos, xipos, cinert, cvel), apply the same
    action, compare reward, its terms, termination and observation (cfrc_ext, cinert, ... included)."""
    n = 4
    b = warp_backend(env_id, n, options=SHARED_OPTIONS.get(env_id))
    envs = gym_envs(env_id, n)
    b.reset(0)
    rng = np.random.default_rng(0)
    terminations = 0
    for k in range(steps):
        qpos, qvel = gym_state(envs)
        if k == 0 and env_id in UNHEALTHY:
            j, z = UNHEALTHY[env_id]
            qpos[0, j] = z
        for e, q, v in zip(envs, qpos, qvel):
            e.unwrapped.set_state(q, v)
        b.set_state(qpos, qvel, elapsed=0)
        act = rng.uniform(-1, 1, (n, b.single_action_space.shape[0]))
        _, rew, term, trunc, final_obs = b.step(torch.as_tensor(act))
        for i, e in enumerate(envs):
            o, r, t, _, info = e.step(act[i])
            assert rew[i].item() == pytest.approx(r, abs=2e-3), (k, i)
            for name, term_i in b.info.items():
                assert term_i[i].item() == pytest.approx(info[name], abs=2e-3), (k, i, name)
            np.testing.assert_allclose(final_obs[i].numpy(), o, rtol=1e-3, atol=2e-3)
            q, v = e.unwrapped.data.qpos, e.unwrapped.data.qvel
            if env_id != "Hopper-v5" or abs(hopper_margin(q, v)) > 1e-3:  # float32 cannot decide closer calls
                assert bool(term[i]) == t, (k, i)
            assert not trunc[i]
            if t:
                terminations += 1
                e.reset(seed=100 + k * n + i)
    if env_id == "Hopper-v5":
        assert terminations >= 3  # random actions topple the hopper: termination was exercised
    if env_id in UNHEALTHY:
        assert terminations >= 1
    if env_id in ("Ant-v5", "Humanoid-v5"):
        assert b.fields["cfrc_ext"].abs().max() > 0  # contact forces were computed (rne_postconstraint)


def test_a_few_steps_without_resync_stay_close(warp_backend):
    """Five steps of HalfCheetah from gymnasium's reset state, no re-sync: rewards track within drift."""
    n = 3
    b = warp_backend("HalfCheetah-v5", n)
    envs = [gym.make("HalfCheetah-v5") for _ in range(n)]
    for i, e in enumerate(envs):
        e.reset(seed=10 + i)
    b.reset(0)
    b.set_state(*gym_state(envs), elapsed=0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        act = rng.uniform(-1, 1, (n, 6))
        _, rew, _, _, obs = b.step(torch.as_tensor(act))
        ref = [e.step(a)[:2] for e, a in zip(envs, act)]
        np.testing.assert_allclose(rew.numpy(), [r for _, r in ref], atol=1e-2)
        np.testing.assert_allclose(obs.numpy(), np.stack([o for o, _ in ref]), atol=1e-2)


# ---------------------------------------------------------------------- long horizon: statistics
@pytest.mark.parametrize("env_id,horizon", [("HalfCheetah-v5", 150), ("Hopper-v5", 60)])
def test_return_distribution_of_fixed_policy_matches(warp_backend, env_id, horizon):
    """64 worlds vs 64 gymnasium-equal CPU envs, a fixed random-linear policy a = tanh(W obs), sum of
    rewards over `horizon` steps (with autoreset): means agree within 4 standard errors, stds within 2x."""
    n = 64
    w, c = warp_backend(env_id, n), MujocoBatchBackend(env_id, n, threads=1)
    obs_dim, act_dim = w.single_observation_space.shape[0], w.single_action_space.shape[0]
    W = np.random.default_rng(123).normal(0, 0.5, (act_dim, obs_dim))
    ow, oc = w.reset(7).numpy().astype(np.float64), c.reset(1000)
    ret_w, ret_c, dones_w, dones_c = np.zeros(n), np.zeros(n), 0, 0
    for _ in range(horizon):
        ow, rw, tw, uw, _ = w.step(torch.as_tensor(np.tanh(ow @ W.T)))
        oc, rc, tc, uc, _ = c.step(np.tanh(oc @ W.T))
        ow = ow.numpy().astype(np.float64)
        ret_w += rw.numpy()
        ret_c += rc
        dones_w += int((tw | uw).sum())
        dones_c += int((tc | uc).sum())
    c.close()
    se = np.sqrt(ret_w.var(ddof=1) / n + ret_c.var(ddof=1) / n)
    assert abs(ret_w.mean() - ret_c.mean()) < 4 * se, (ret_w.mean(), ret_c.mean(), se)
    assert 0.5 < ret_w.std() / ret_c.std() < 2.0
    if env_id == "Hopper-v5":  # episodes end (and autoreset) at a similar rate
        assert dones_c > 20 and 0.6 < dones_w / dones_c < 1.6, (dones_w, dones_c)


# ---------------------------------------------------------------------- autoreset and reset noise
def test_truncation_autoreset_same_step(warp_backend):
    """World 0 at elapsed 998: its 2nd step truncates; obs holds a fresh reset state, final_obs the
    continued trajectory (== gymnasium's), the other worlds are untouched; the clock restarts."""
    b = warp_backend("HalfCheetah-v5", 3)
    envs = [gym.make("HalfCheetah-v5") for _ in range(3)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    b.reset(0)
    b.set_state(*gym_state(envs), elapsed=torch.tensor([998, 0, 0]))
    act = np.full((3, 6), 0.3)
    _, _, _, trunc, _ = b.step(torch.as_tensor(act))
    assert not trunc.any()
    for e, a in zip(envs, act):  # gymnasium follows along
        e.step(a)
    obs, _, term, trunc, final_obs = b.step(torch.as_tensor(act))
    ref = np.stack([e.step(a)[0] for e, a in zip(envs, act)])
    assert trunc.tolist() == [True, False, False] and not term.any()
    np.testing.assert_allclose(final_obs.numpy(), ref, atol=1e-2)  # the true last observation
    assert torch.equal(obs[1:], final_obs[1:])
    s = 0.1  # HalfCheetah reset_noise_scale: qpos[1:] within +-s of init_qpos (all zeros)
    assert obs[0, :8].abs().max() <= s and (obs[0] - final_obs[0]).abs().max() > 0.1
    assert b.elapsed.tolist() == [0, 2, 2] and b.time[0].item() == 0.0
    _, _, _, trunc, _ = b.step(torch.as_tensor(act))
    assert not trunc.any() and b.elapsed.tolist() == [1, 3, 3]


def test_termination_autoreset_same_step(warp_backend):
    """A Hopper world put below the healthy height terminates on the next step: reward without the
    healthy bonus (== gymnasium's from the same state), a fresh state in obs, the fallen one in final_obs."""
    b = warp_backend("Hopper-v5", 3)
    envs = [gym.make("Hopper-v5") for _ in range(3)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    qpos, qvel = gym_state(envs)
    qpos[1, 1] = 0.5  # z of world 1 below healthy_z_range[0] = 0.7
    envs[1].unwrapped.set_state(qpos[1], qvel[1])
    b.reset(0)
    b.set_state(qpos, qvel, elapsed=5)
    act = np.zeros((3, 3))
    obs, rew, term, trunc, final_obs = b.step(torch.as_tensor(act))
    o1, r1, t1, _, _ = envs[1].step(act[1])
    assert t1 and term.tolist() == [False, True, False] and not trunc.any()
    assert rew[1].item() == pytest.approx(r1, abs=2e-3) and r1 < 0.5  # no +1 healthy reward
    np.testing.assert_allclose(final_obs[1].numpy(), o1, atol=2e-3)
    init = torch.as_tensor(envs[1].unwrapped.init_qpos[1:], dtype=torch.float32)
    assert (obs[1, :5] - init).abs().max() <= 5e-3 + 1e-6  # reset noise scale 5e-3
    assert b.elapsed.tolist() == [6, 0, 6]
    assert torch.equal(obs[[0, 2]], final_obs[[0, 2]])


def test_reset_observation_reads_forward_fields(warp_backend):
    """Humanoid's observation reads fields mj_forward computes (cinert, cvel, qfrc_actuator) and zero
    contact forces after a reset: the reset observation, and the one an autoreset puts in `obs` in the
    step where world 1 falls, equal gymnasium's _get_obs() after set_state of the same (qpos, qvel);
    the other worlds' observations are their own continued ones."""
    env_id, n = "Humanoid-v5", 3
    b = warp_backend(env_id, n, options=SHARED_OPTIONS[env_id])
    ref = gym_envs(env_id, 1)[0].unwrapped

    def gym_reset_obs(i: int) -> np.ndarray:
        ref.reset(seed=0)  # mj_resetData: cfrc_ext zero, as after gymnasium's own reset
        ref.set_state(b.qpos[i].double().numpy(), b.qvel[i].double().numpy())
        return ref._get_obs()

    obs = b.reset(5)
    assert obs.shape == (n, 348) and obs[:, -13 * 6 :].abs().max() == 0  # no contact forces yet
    for i in range(n):
        np.testing.assert_allclose(obs[i].numpy(), gym_reset_obs(i), rtol=1e-3, atol=2e-3)
    envs = gym_envs(env_id, n)
    qpos, qvel = gym_state(envs)
    qpos[1, 2] = 2.5  # world 1's torso above the healthy range: it terminates in the next step
    for e, q, v in zip(envs, qpos, qvel):
        e.unwrapped.set_state(q, v)
    b.set_state(qpos, qvel, elapsed=0)
    act = np.random.default_rng(2).uniform(-0.4, 0.4, (n, 17))
    obs, rew, term, _, final_obs = b.step(torch.as_tensor(act))
    ref_steps = [e.step(a) for e, a in zip(envs, act)]
    assert term.tolist() == [False, True, False] == [bool(t) for _, _, t, _, _ in ref_steps]
    np.testing.assert_allclose(obs[1].numpy(), gym_reset_obs(1), rtol=1e-3, atol=2e-3)
    for i in (0, 2):
        assert torch.equal(obs[i], final_obs[i]) and rew[i].item() == pytest.approx(ref_steps[i][1], abs=2e-3)
        np.testing.assert_allclose(obs[i].numpy(), ref_steps[i][0], rtol=1e-3, atol=2e-3)


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "Hopper-v5"])
def test_reset_noise_distribution(warp_backend, env_id):
    """qpos - init ~ U(-s, s) (std s/sqrt(3)); qvel - init ~ s N(0,1) (HalfCheetah) or U(-s, s) (Hopper)."""
    n = 512
    b = warp_backend(env_id, n)
    b.reset(3)
    u = gym.make(env_id).unwrapped
    s = u._reset_noise_scale
    dq = b.qpos.double().numpy() - u.init_qpos
    dv = b.qvel.double().numpy() - u.init_qvel
    assert np.abs(dq).max() <= s * (1 + 1e-5) and abs(dq.std() / (s / np.sqrt(3)) - 1) < 0.05
    assert abs(dq.mean()) < 0.02 * s
    if env_id == "Hopper-v5":
        assert np.abs(dv).max() <= s * (1 + 1e-5) and abs(dv.std() / (s / np.sqrt(3)) - 1) < 0.05
    else:
        assert abs(dv.std() / s - 1) < 0.05 and np.abs(dv).max() > 2.5 * s  # Gaussian tails
    b.reset(3)  # same seed -> same states
    assert np.array_equal(b.qpos.double().numpy() - u.init_qpos, dq)


# ---------------------------------------------------------------------- DeviceVecEnv and collector (no warp needed)
from torch_backend import TorchOnCPU  # noqa: E402  (tests/torch_backend.py)


@pytest.mark.parametrize("norm", [False, True])
def test_device_vec_env_equals_numpy_vec_env(norm):
    """Same physics through VecEnv (numpy) and DeviceVecEnv (torch): same obs, rewards, dones, episode
    statistics and normaliser statistics, with obs/reward normalisation on and off."""
    kw = dict(seed=0, normalize_obs=norm, normalize_reward=norm, gamma=0.99)
    # float32 actions for both, so the physics sees identical controls
    a_env = VecEnv(MujocoBatchBackend("Hopper-v5", 4, threads=1, max_episode_steps=50), **kw)
    b_env = DeviceVecEnv(TorchOnCPU("Hopper-v5", 4, max_episode_steps=50), **kw)
    np.testing.assert_allclose(b_env.reset(), a_env.reset(), atol=1e-5)
    rng = np.random.default_rng(0)
    rets_a, rets_b = [], []
    for _ in range(150):
        act = rng.uniform(-1.5, 1.5, (4, 3)).astype(np.float32)  # outside the Box: both clip
        a, b = a_env.step(act), b_env.step(act)
        assert isinstance(b.obs, np.ndarray)  # torch_io off: numpy out, like every VecEnv
        np.testing.assert_allclose(b.obs, a.obs, atol=1e-4)
        np.testing.assert_allclose(b.final_obs, a.final_obs, atol=1e-4)
        np.testing.assert_allclose(b.reward, a.reward, rtol=1e-5, atol=1e-5)
        assert np.array_equal(b.terminated, a.terminated) and np.array_equal(b.truncated, a.truncated)
        rets_a += a.episode_returns.tolist()
        rets_b += b.episode_returns.tolist()
    assert len(rets_a) > 8 and rets_b == pytest.approx(rets_a, rel=1e-6)
    sa, sb = a_env.state_dict(), b_env.state_dict()
    np.testing.assert_allclose(sb["obs_rms"]["mean"], sa["obs_rms"]["mean"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sb["ret_rms"]["var"], sa["ret_rms"]["var"], rtol=1e-6)
    b_env.torch_io = True
    out = b_env.step(torch.zeros(4, 3))
    assert isinstance(out.obs, torch.Tensor) and out.obs.dtype == torch.float32
    # normalize() keeps the caller's type (the video recorder passes numpy)
    x = np.ones((2, 11), np.float32)
    assert isinstance(b_env.normalize(x), np.ndarray)
    torch.testing.assert_close(b_env.normalize(torch.as_tensor(x)), torch.as_tensor(b_env.normalize(x)))
    a_env.close()
    b_env.close()


def test_collector_device_path_equals_numpy_path():
    """OnPolicyCollector on a DeviceVecEnv (tensors, bootstrap by torch.where) builds the same batch as
    on a numpy VecEnv (index-add bootstrap), across truncations (20-step limit) and terminations."""
    from rlmeta.core.networks import Critic, GaussianActor

    torch.manual_seed(0)
    actor, critic = GaussianActor(11, 3, (16,)), Critic(11, (16,))
    batches = []
    for env in (
        VecEnv(MujocoBatchBackend("Hopper-v5", 3, threads=1, max_episode_steps=20), seed=1),
        DeviceVecEnv(TorchOnCPU("Hopper-v5", 3, max_episode_steps=20), seed=1),
    ):
        col = OnPolicyCollector(env, 60, torch.device("cpu"), gamma=0.99)
        torch.manual_seed(1)
        policy, value = (actor.sample, critic) if col.on_device else (actor.numpy_sampler(), critic.numpy_value())
        batches.append((col.collect(policy, value, lam=0.95), col.stats.pop(), col.on_device))
        env.close()
    (a, sa, dev_a), (b, sb, dev_b) = batches
    assert (dev_a, dev_b) == (False, True)
    for x, y in zip(a, b):
        torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-5)
    assert sa["charts/episodes"] == sb["charts/episodes"] >= 9  # 60 steps / 20-step limit x 3 envs
    assert sb["charts/episodic_return"] == pytest.approx(sa["charts/episodic_return"], rel=1e-5)


# ---------------------------------------------------------------------- wiring
def test_make_vec_env_warp_wiring_and_errors(warp_backend, monkeypatch):
    envs = make_vec_env("HalfCheetah-v5", num_envs=2, seed=0, backend="warp", device="cpu")
    assert isinstance(envs, DeviceVecEnv) and envs.device == torch.device("cpu")
    obs = envs.reset()
    assert isinstance(obs, np.ndarray) and obs.shape == (2, 17) and obs.dtype == np.float32
    out = envs.step(np.zeros((2, 6)))
    assert out.reward.shape == (2,) and out.reward.dtype == np.float32
    envs.close()
    with pytest.raises(ConfigError, match="warp supports"):
        make_vec_env("Pendulum-v1", backend="warp", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cuda"):
            make_vec_env("Hopper-v5", backend="warp", device="cuda")
    # without mujoco-warp installed: one clear line, not a traceback
    monkeypatch.delitem(sys.modules, "rlmeta.envs.mujoco.warp_backend")
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)
    with pytest.raises(ConfigError, match="needs mujoco-warp"):
        make_vec_env("Hopper-v5", backend="warp", device="cpu")


def test_ppo_cli_runs_on_warp_backend_and_resumes(warp_backend, tmp_path):
    from rlmeta.app.cli import main
    from rlmeta.core.checkpoint import load_checkpoint

    rd = tmp_path / "ppo-warp"
    common = [
        "--env",
        "HalfCheetah-v5",
        "--env-backend",
        "warp",
        "--device",
        "cpu",
        "--num-envs",
        "4",
        "--num-steps",
        "16",
        "--num-minibatches",
        "2",
        "--update-epochs",
        "1",
        "--no-progress",
    ]
    assert main(["train", "ppo", "--total-steps", "128", "--run-dir", str(rd), *common]) == 0
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["global_step"] == 128
    assert ck["env"]["backend"]["qpos"].shape == (4, 9) and ck["env"]["backend"]["elapsed"].tolist() == [32] * 4
    assert main(["train", "ppo", "--resume", str(rd), "--total-steps", "192"]) == 0
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["global_step"] == 192 and ck["env"]["backend"]["elapsed"].tolist() == [48] * 4


# ---------------------------------------------------------------------- GPU-scale training path
def test_staggered_starts_spread_episode_ends_and_device_stats_match_host(warp_backend):
    """stagger_starts: episode clocks start uniformly in [0, limit); world i's first (shortened) episode
    ends after limit - clock_i steps and is not reported; every later one runs the full limit. The
    device-side statistics (torch_io: masked sums, no host sync) equal the host path's list."""
    from rlmeta.core.rollout import EpisodeStats

    n, limit, steps = 16, 20, 65
    runs = []
    for torch_io in (True, False):
        env = DeviceVecEnv(warp_backend("HalfCheetah-v5", n, max_episode_steps=limit), stagger_starts=True, seed=3)
        env.torch_io = torch_io
        env.reset()
        clocks = env.backend.elapsed.clone()
        stats, rets, lens, ends = EpisodeStats(), [], [], []
        for _ in range(steps):
            out = env.step(torch.full((n, 6), 0.3) if torch_io else np.full((n, 6), 0.3, np.float32))
            ends.append(int((torch.as_tensor(out.terminated) | torch.as_tensor(out.truncated)).sum()))
            stats.add(out.episode_returns, out.episode_lengths, out.episode_mask)
            r, l = (
                (out.episode_returns[out.episode_mask], out.episode_lengths[out.episode_mask])
                if torch_io
                else (out.episode_returns, out.episode_lengths)
            )
            rets += torch.as_tensor(r).tolist()
            lens += torch.as_tensor(l).tolist()
        env.close()
        runs.append((clocks, stats.pop(), rets, lens, ends))
    (clocks, dev_stats, rets, lens, ends), (clocks2, host_stats, rets2, _, _) = runs
    assert (
        torch.equal(clocks, clocks2) and clocks.min() >= 0 and clocks.max() < limit and len(set(clocks.tolist())) >= 8
    )
    # full episodes of world i within `steps`: after its first ends at limit - c, one every `limit` steps
    expected = sum((steps - (limit - c)) // limit for c in clocks.tolist())
    assert len(rets) == expected and set(lens) == {limit}
    assert max(ends) < n // 2  # never every world in the same step
    assert dev_stats["charts/episodes"] == host_stats["charts/episodes"] == expected
    assert rets == pytest.approx(rets2, rel=1e-6)
    assert dev_stats["charts/episodic_return"] == pytest.approx(np.mean(rets), rel=1e-6)
    assert dev_stats["charts/episodic_length"] == limit


@pytest.mark.parametrize("algo", ["vpg", "trpo"])
def test_vpg_trpo_train_on_the_gpu_path(warp_backend, tmp_path, algo):
    """VPG and TRPO share the device collector: they train on warp worlds with staggered starts."""
    from rlmeta.app.cli import main
    from rlmeta.core.checkpoint import load_checkpoint

    rd = tmp_path / algo
    assert (
        main(
            [
                "train",
                algo,
                "--env",
                "Hopper-v5",
                "--env-backend",
                "warp",
                "--device",
                "cpu",
                "--stagger-starts",
                "--num-envs",
                "4",
                "--num-steps",
                "32",
                "--total-steps",
                "256",
                "--run-dir",
                str(rd),
                "--no-progress",
            ]
        )
        == 0
    )
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["global_step"] == 256 and ck["env"]["episode"]["partial"].shape == (4,)
    rows = (rd / "progress.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header + two iterations


def test_stagger_starts_needs_the_warp_backend():
    with pytest.raises(ConfigError, match="stagger-starts needs --env-backend warp"):
        make_vec_env("Hopper-v5", 2, backend="mujoco", stagger_starts=True)
