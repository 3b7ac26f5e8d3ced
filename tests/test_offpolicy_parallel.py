"""The off-policy loop with many parallel worlds on a device (`--preset gpu` for SAC and TD3):
OffPolicyLoop on a DeviceVecEnv (torch in and out, episode statistics summed on the device) fills the
replay buffer with exactly what the numpy path stores on the same physics: N transitions per vector
step, done = terminated only, next_obs = the true last observation at a time limit; the device
observation normaliser's statistics count every stored observation; the presets' numbers.

The physics is the batched CPU MuJoCo backend speaking torch (as tests/test_warp_backend.py's
TorchOnCPU), so nothing here needs mujoco-warp; the last test runs the preset through the CLI on Warp's
CPU device when mujoco-warp is installed (about 30 s the first time while Warp compiles, cached after).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_backend import TorchOnCPU  # tests/torch_backend.py

from rlmeta.agents.offpolicy.base import GPU_PRESET, OffPolicyLoop
from rlmeta.agents.offpolicy.sac import SACConfig
from rlmeta.agents.offpolicy.td3 import TD3Config
from rlmeta.core.vec_env import DeviceVecEnv, VecEnv
from rlmeta.envs.mujoco.batched import MujocoBatchBackend

N, LIMIT = 4, 20  # worlds, time limit (short, so truncations happen within the test)


def small_cfg(**over) -> TD3Config:
    kw = dict(
        env="Hopper-v5",
        num_envs=N,
        start_steps=40,
        update_after=10**9,
        eval_every=0,
        log_every=10**9,
        buffer_size=10_000,
        total_steps=10**9,
    )
    return TD3Config().replace(**{**kw, **over})


def run_loop(env, cfg, vec_steps: int):
    """vec_steps vector steps of OffPolicyLoop.collect (random, then a fixed noisy linear policy)."""
    loop = OffPolicyLoop(cfg, env, torch.device("cpu"))
    o, a = env.single_observation_space.shape[0], env.single_action_space.shape[0]
    w = torch.linspace(-1, 1, o * a).reshape(o, a) * 0.3

    def explore(obs: torch.Tensor) -> torch.Tensor:
        return (obs @ w + 0.1 * torch.randn(obs.shape[0], a)).clamp(-1, 1)

    torch.manual_seed(0)
    step, sizes = 0, []
    for _ in range(vec_steps):
        step = loop.collect(step, explore)
        sizes.append(len(loop.buffer))
    return loop, step, sizes


@pytest.mark.parametrize("norm", [False, True])
def test_device_loop_stores_what_the_numpy_loop_stores(norm):
    """Same physics, same actions: the device path (tensors, masked device statistics) fills the same
    buffer as the numpy path, N rows per vector step, with truncations bootstrapped and terminations not."""
    steps = 70  # past the 20-step limit three times, Hopper terminations too
    cfg = small_cfg(normalize_obs=norm)
    host = VecEnv(MujocoBatchBackend("Hopper-v5", N, threads=1, max_episode_steps=LIMIT), seed=3, normalize_obs=norm)
    dev = DeviceVecEnv(TorchOnCPU("Hopper-v5", N, max_episode_steps=LIMIT), seed=3, normalize_obs=norm)
    a, step_a, sizes_a = run_loop(host, cfg, steps)
    b, step_b, sizes_b = run_loop(dev, cfg, steps)
    assert (a.on_device, b.on_device) == (False, True) and dev.torch_io
    assert step_a == step_b == N * steps and sizes_b == [N * (i + 1) for i in range(steps)] == sizes_a
    torch.testing.assert_close(b.buffer.data[: N * steps], a.buffer.data[: N * steps], rtol=1e-4, atol=1e-4)
    rows = b.buffer.split(b.buffer.data[: N * steps])
    # every world reached its 20-step time limit (truncation) at least once; those rows have done 0
    assert 0 < int(rows.dones.sum()) < N * steps  # Hopper falls under random actions: some terminations
    sa, sb = a.stats.pop(), b.stats.pop()
    assert sb["charts/episodes"] == sa["charts/episodes"] >= N * (steps // LIMIT) - 1
    assert sb["charts/episodic_return"] == pytest.approx(sa["charts/episodic_return"], rel=1e-5)
    assert sb["charts/episodic_length"] == pytest.approx(sa["charts/episodic_length"])
    if norm:  # the device normaliser saw the reset and every step's observations of all N worlds
        assert dev.obs_rms.count == pytest.approx(1e-4 + N * (steps + 1))
        np.testing.assert_allclose(dev.obs_rms.mean.numpy(), host.obs_rms.mean, rtol=1e-5, atol=1e-6)
        # stored observations are normalised: roughly zero mean, unit scale over the buffer
        assert rows.obs.mean().abs() < 0.3 and 0.3 < rows.obs.std() < 2.0
    host.close()
    dev.close()


def test_truncated_rows_keep_the_last_observation_and_done_zero():
    """A world that hits the time limit: its row stores next_obs = the true last observation (not the
    reset one) and done = 0; the observation after it is a reset observation."""
    cfg = small_cfg()
    dev = DeviceVecEnv(TorchOnCPU("HalfCheetah-v5", N, max_episode_steps=LIMIT), seed=0)  # never terminates
    loop, _, _ = run_loop(dev, cfg, LIMIT + 1)
    rows = loop.buffer.split(loop.buffer.data[: N * (LIMIT + 1)])
    assert float(rows.dones.sum()) == 0.0  # HalfCheetah only truncates
    last = slice(N * (LIMIT - 1), N * LIMIT)  # the 20th step of every world: truncated
    nxt = slice(N * LIMIT, N * (LIMIT + 1))  # the first step after the reset
    # next_obs of the truncated step is the last state, not the reset state the next row starts from
    assert (rows.next_obs[last] - rows.obs[nxt]).abs().max() > 0.1
    # between steps inside an episode next_obs == the next row's obs
    torch.testing.assert_close(rows.next_obs[: N * (LIMIT - 1)], rows.obs[N : N * LIMIT])
    dev.close()


def test_gpu_presets_follow_fasttd3():
    """The gpu presets' numbers (documented in rlmeta.agents.offpolicy.base.GPU_PRESET): 1024 warp worlds, batch
    32768, 2 updates per vector step, tau 0.1, obs normalisation, CUDA graphs."""
    for Cfg in (SACConfig, TD3Config):
        c = Cfg.presets()["gpu"]
        c.validate()
        assert (c.env_backend, c.num_envs, c.batch_size, c.polyak, c.normalize_obs, c.compile) == (
            "warp",
            1024,
            32768,
            0.9,
            True,
            True,
        )
        assert c.utd_ratio * c.num_envs == 2.0 and c.update_every == c.num_envs  # per vector step
        assert c.buffer_size == 10_000 * c.num_envs and c.hidden_sizes == (512, 256, 128)
    assert TD3Config.presets()["gpu"].policy_delay == 2 and SACConfig.presets()["gpu"].autotune
    assert set(GPU_PRESET) <= set(vars(TD3Config.presets()["gpu"]))


def test_gpu_preset_updates_on_a_device_env():
    """A tiny gpu-preset run through the agent on the device env: 2 updates per vector step once the
    buffer holds update_after rows; episode statistics come from the device sums."""
    from rlmeta.agents.offpolicy.td3 import TD3

    cfg = TD3Config.presets()["gpu"].replace(
        env="Hopper-v5",
        device="cpu",
        num_envs=N,
        update_every=N,
        utd_ratio=2 / N,
        batch_size=32,
        hidden_sizes=(16,),
        start_steps=8,
        update_after=8,
        log_every=4 * N,
        compile=False,
        eval_every=0,
        buffer_size=1000,
        stagger_starts=False,
    )
    env = DeviceVecEnv(TorchOnCPU("Hopper-v5", N, max_episode_steps=LIMIT), seed=0, normalize_obs=True)
    torch.manual_seed(0)
    agent = TD3(cfg, env, torch.device("cpu"))
    for _ in range(10):  # 40 vector steps
        m = agent.iteration()
    # updates from the vector step at which the buffer held 8 rows (step 2) on: 2 per vector step
    assert agent.global_step == 40 * N and agent.loop.num_updates == 2 * (40 - 1)
    assert np.isfinite(m["losses/qf_loss"]) and env.obs_rms.count == pytest.approx(1e-4 + N * 41)
    env.close()


def test_gpu_preset_cli_on_warp_cpu(tmp_path):
    """`rlmeta train td3/sac --preset gpu` on mujoco-warp's CPU device, shrunk: it trains with the
    preset's update-to-data ratio, logs, and checkpoints (without the replay buffer). (No full episode
    ends within 200 vector steps: the staggered first episodes are not counted.)"""
    pytest.importorskip("mujoco_warp")
    pytest.importorskip("warp")
    import csv

    from rlmeta.app.cli import main
    from rlmeta.core.checkpoint import load_checkpoint

    for algo in ("td3", "sac"):
        rd = tmp_path / algo
        assert (
            main(
                [
                    "train",
                    algo,
                    "--preset",
                    "gpu",
                    "--env",
                    "HalfCheetah-v5",
                    "--device",
                    "cpu",
                    "--num-envs",
                    "8",
                    "--update-every",
                    "8",
                    "--utd-ratio",
                    "0.25",
                    "--batch-size",
                    "64",
                    "--hidden-sizes",
                    "16",
                    "16",
                    "--start-steps",
                    "64",
                    "--update-after",
                    "64",
                    "--buffer-size",
                    "4096",
                    "--total-steps",
                    "1600",
                    "--log-every",
                    "400",
                    "--eval-every",
                    "0",
                    "--no-compile",
                    "--no-progress",
                    "--run-dir",
                    str(rd),
                ]
            )
            == 0
        )
        ck = load_checkpoint(rd / "checkpoint.pt")
        assert ck["global_step"] == 1600 and "buffer" not in ck["agent"]["loop"]
        assert ck["agent"]["loop"]["num_updates"] == 2 * (200 - 7)  # 2 per vector step from the 8th (64 rows) on
        rows = list(csv.DictReader((rd / "progress.csv").open()))
        assert [int(r["global_step"]) for r in rows] == [400, 800, 1200, 1600]
        assert all(np.isfinite(float(r["losses/qf_loss"])) for r in rows)
