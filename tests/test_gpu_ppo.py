"""benchmarks/gpu_ppo.py (PPO's GPU check) in a tiny configuration on Warp's CPU device: it trains
the `gpu` preset on both tasks, evaluates, measures graph vs eager throughput and writes the report
files with the numbers it measured."""

from __future__ import annotations

import csv

import pytest
from figures import assert_figure  # tests/figures.py


def test_gpu_ppo_script_tiny_on_cpu(tmp_path):
    pytest.importorskip("mujoco_warp")
    from rlmeta.benchmarks import gpu_ppo

    out = tmp_path / "gpu_ppo"
    assert (
        gpu_ppo.main(
            [
                "--device",
                "cpu",
                "--num-envs",
                "8",
                "--num-steps",
                "8",
                "--max-iters",
                "3",
                "--envs",
                "HalfCheetah-v5",
                "Hopper-v5",
                "--eval-envs",
                "4",
                "--eval-steps",
                "30",
                "--throughput-iters",
                "1",
                "--no-test",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    md = (out / "gpu_ppo.md").read_text()
    assert_figure(out / "gpu_ppo.png")
    for env_id in ("HalfCheetah-v5", "Hopper-v5"):
        rows = list(csv.DictReader((out / f"gpu_ppo_{env_id}.csv").open()))
        assert [int(r["global_step"]) for r in rows] == [64, 128, 192]
        assert all(float(r["charts/SPS"]) > 0 and float(r["charts/learning_rate"]) > 0 for r in rows)
        assert f"| {env_id} | 3 | 192 |" in md
    assert "CUDA graph update (--compile)" in md and "eager update" in md and "CPU run" in md
    # the CPU path's 1M-step PPO rows are read from the committed results for the comparison
    cpu = gpu_ppo.cpu_reference()
    assert {"HalfCheetah-v5", "Hopper-v5"} <= set(cpu) and all(len(v) == 2 for v in cpu.values())


def test_gpu_ppo_script_ant_and_humanoid_tiny_on_cpu(tmp_path):
    """The Ant-v5 / Humanoid-v5 check (a throughput target on Ant, a return target on Humanoid) in a
    tiny configuration: both train with the preset's per-task settings, one budget per task, the
    throughput rows on the named task, and the report names each task's target."""
    pytest.importorskip("mujoco_warp")
    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.benchmarks import gpu_ppo

    out = tmp_path / "gpu_ppo"
    assert (
        gpu_ppo.main(
            [
                "--device",
                "cpu",
                "--num-envs",
                "4",
                "--num-steps",
                "4",
                "--max-iters",
                "2",
                "--envs",
                "Humanoid-v5",
                "Ant-v5",
                "--budget-s",
                "300",
                "120",
                "--throughput-env",
                "Ant-v5",
                "--eval-envs",
                "2",
                "--eval-steps",
                "5",
                "--throughput-iters",
                "1",
                "--no-test",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    md = (out / "gpu_ppo.md").read_text()
    for env_id in ("Humanoid-v5", "Ant-v5"):
        rows = list(csv.DictReader((out / f"gpu_ppo_{env_id}.csv").open()))
        assert [int(r["global_step"]) for r in rows] == [16, 32] and f"| {env_id} | 2 | 32 |" in md
    assert "return 5000 within 300 s" in md and "1,000,000 env-steps/s" in md and "End-to-end throughput, Ant-v5" in md
    assert "300 / 120 s of wall time per task" in md and "'gamma': 0.97" in md
    cfg = gpu_ppo.make_config("Humanoid-v5", gpu_ppo.argparse.Namespace(device="cpu", seed=0, num_envs=0, num_steps=0))
    assert (cfg.gamma, cfg.update_epochs) == (0.97, 8) and PPOConfig.presets()["gpu"].gamma == 0.99


def test_gpu_preset_per_task_settings_follow_env():
    """`--preset gpu --env ENV` takes the task's changes (Brax's discounting and entropy for Ant and
    Humanoid, gamma 0.9999 for Swimmer); a flag on the command line still wins; other presets and tasks
    keep their values."""
    from rlmeta.app.cli import parse_train_args

    def cfg(*argv):
        return parse_train_args("ppo", list(argv))[1]

    ant, hum = cfg("--preset", "gpu", "--env", "Ant-v5"), cfg("--preset", "gpu", "--env=Humanoid-v5")
    assert (ant.gamma, ant.ent_coef, ant.update_epochs) == (0.97, 0.01, 5)
    assert (hum.gamma, hum.ent_coef, hum.update_epochs) == (0.97, 0.001, 8)
    assert cfg("--preset", "gpu", "--env", "Swimmer-v5").gamma == 0.9999
    assert cfg("--preset", "gpu", "--env", "Ant-v5", "--gamma", "0.99").gamma == 0.99
    assert cfg("--preset", "gpu", "--env", "HalfCheetah-v5").gamma == 0.99
    assert cfg("--preset", "spinningup", "--env", "Ant-v5").gamma == 0.99
