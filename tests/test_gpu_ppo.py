"""benchmarks/gpu_ppo.py (issue 14's GPU check) in a tiny configuration on Warp's CPU device: it trains
the `gpu` preset on both tasks, evaluates, measures graph vs eager throughput and writes the report
files with the numbers it measured."""

from __future__ import annotations

import csv

import pytest


def test_gpu_ppo_script_tiny_on_cpu(tmp_path):
    pytest.importorskip("mujoco_warp")
    from rlmeta.benchmarks import gpu_ppo

    out = tmp_path / "gpu_ppo"
    assert gpu_ppo.main(["--device", "cpu", "--num-envs", "8", "--num-steps", "8", "--max-iters", "3",
                         "--envs", "HalfCheetah-v5", "Hopper-v5", "--eval-envs", "4", "--eval-steps", "30",
                         "--throughput-iters", "1", "--no-test", "--out", str(out)]) == 0
    md = (out / "gpu_ppo.md").read_text()
    assert (out / "gpu_ppo.png").stat().st_size > 10_000
    for env_id in ("HalfCheetah-v5", "Hopper-v5"):
        rows = list(csv.DictReader((out / f"gpu_ppo_{env_id}.csv").open()))
        assert [int(r["global_step"]) for r in rows] == [64, 128, 192]
        assert all(float(r["charts/SPS"]) > 0 and float(r["charts/learning_rate"]) > 0 for r in rows)
        assert f"| {env_id} | 3 | 192 |" in md
    assert "CUDA graph update (--compile)" in md and "eager update" in md and "CPU run" in md
    # the CPU path's 1M-step PPO rows are read from the committed results for the comparison
    cpu = gpu_ppo.cpu_reference()
    assert {"HalfCheetah-v5", "Hopper-v5"} <= set(cpu) and all(len(v) == 2 for v in cpu.values())
