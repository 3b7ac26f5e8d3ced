"""benchmarks/gpu_offpolicy.py (issue 15's GPU check) in a tiny configuration on the CPU: it measures
the eager, graph (eagerly on the CPU) and --seeds rows, runs the captured == eager check and writes
the report files with the numbers it measured."""

from __future__ import annotations

import csv


def test_gpu_offpolicy_script_tiny_on_cpu(tmp_path):
    from benchmarks import gpu_offpolicy

    out = tmp_path / "gpu_off"
    assert gpu_offpolicy.main(["--device", "cpu", "--steps", "40", "--start-steps", "30", "--chunk", "20",
                               "--hidden", "16", "--seeds", "2", "--batch", "8", "--check-updates", "3",
                               "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "gpu_offpolicy.csv").open()))
    assert [(r["algo"], r["mode"].split(",")[0]) for r in rows] == [
        ("sac", "eager update"), ("sac", "CUDA graph update (--compile; eager on the CPU)"), ("sac", "--seeds 2"),
        ("td3", "eager update"), ("td3", "CUDA graph update (--compile; eager on the CPU)"), ("td3", "--seeds 2")]
    assert all(float(r["env_steps_per_s"]) > 0 for r in rows)
    md = (out / "gpu_offpolicy.md").read_text()
    assert "- ddpg: max abs parameter difference after 3 updates" in md and "FAILED" not in md
    assert "not implemented" in md and (out / "gpu_offpolicy.png").stat().st_size > 5_000
