"""benchmarks/gpu_atari.py (PPO on Breakout on one GPU) in a tiny configuration on the CPU: it trains on
ALE's real emulators, writes one CSV row per iteration with the steps it took, and reports against
CleanRL's published ppo_atari.py return."""

from __future__ import annotations

import csv

from figures import assert_figure  # tests/figures.py


def test_gpu_atari_script_tiny_on_cpu(tmp_path):
    from rlmeta.benchmarks import gpu_atari

    out = tmp_path / "atari"
    argv = ["--device", "cpu", "--num-envs", "2", "--num-steps", "16", "--max-iters", "2", "--out", str(out)]
    argv += ["--encoder-precision", "bf16"]
    assert gpu_atari.main(argv) == 0
    rows = list(csv.DictReader((out / "gpu_atari.csv").open()))
    assert [int(r["global_step"]) for r in rows] == [32, 64]  # 2 envs x 16 steps per iteration
    assert all(float(r["charts/SPS"]) > 0 for r in rows)
    md = (out / "gpu_atari.md").read_text()
    assert "| env steps reached | 64 |" in md and "encoder bf16" in md
    assert "414.66 +- 28.09 at 10,000,000 steps (CleanRL ppo_atari.py)" in md
    assert_figure(out / "gpu_atari.png")
