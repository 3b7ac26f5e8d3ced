"""benchmarks/gpu_offpolicy.py (the off-policy GPU check) in a tiny configuration on the CPU: it measures
the eager, graph (eagerly on the CPU) and --seeds rows, runs the captured == eager check and writes
the report files with the numbers it measured; its parallel-worlds phase (`--preset gpu` on
mujoco-warp, here Warp's CPU device with 8 worlds for a few seconds) trains, tests and reports."""

from __future__ import annotations

import csv
import itertools

import pytest
from figures import assert_figure  # tests/figures.py


def test_gpu_offpolicy_script_tiny_on_cpu(tmp_path):
    from rlmeta.benchmarks import gpu_offpolicy

    out = tmp_path / "gpu_off"
    assert (
        gpu_offpolicy.main(
            [
                "--device",
                "cpu",
                "--steps",
                "40",
                "--start-steps",
                "30",
                "--chunk",
                "20",
                "--hidden",
                "16",
                "--seeds",
                "2",
                "--batch",
                "8",
                "--check-updates",
                "3",
                "--phases",
                "throughput",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((out / "gpu_offpolicy.csv").open()))
    assert [(r["algo"], r["mode"].split(",")[0]) for r in rows] == [
        ("sac", "eager update"),
        ("sac", "CUDA graph update (--compile; eager on the CPU)"),
        ("sac", "--seeds 2"),
        ("td3", "eager update"),
        ("td3", "CUDA graph update (--compile; eager on the CPU)"),
        ("td3", "--seeds 2"),
    ]
    assert all(float(r["env_steps_per_s"]) > 0 for r in rows)
    md = (out / "gpu_offpolicy.md").read_text()
    assert "- ddpg: max abs parameter difference after 3 updates" in md and "FAILED" not in md
    assert "Parallel worlds: not run (--phases)." in md
    assert_figure(out / "gpu_offpolicy.png")


def test_gpu_offpolicy_parallel_worlds_tiny_on_cpu(tmp_path, monkeypatch):
    """The worlds phase, shrunk: both algorithms on Hopper-v5 (8 worlds, a 3 s budget, 2 test episodes)
    train, test and report; runs the deadline leaves no time for are skipped, not run over time.
    The budget runs on a clock that ticks one second per reading, not on the wall clock: what the
    test checks cannot depend on the machine's speed, its load or a cold Warp kernel cache."""
    pytest.importorskip("mujoco_warp")
    pytest.importorskip("warp")
    from rlmeta.benchmarks import gpu_offpolicy

    ticks = itertools.count()
    monkeypatch.setattr(gpu_offpolicy, "clock", lambda: float(next(ticks)))

    out = tmp_path / "gpu_worlds"
    assert (
        gpu_offpolicy.main(
            [
                "--device",
                "cpu",
                "--phases",
                "worlds",
                "--worlds",
                "8",
                "--worlds-budget-s",
                "3",
                "--worlds-min-s",
                "1",
                "--worlds-eval-s",
                "0",
                "--worlds-eval-episodes",
                "2",
                "--worlds-batch",
                "32",
                "--worlds-hidden",
                "16",
                "16",
                "--worlds-log-every",
                "5",
                "--worlds-algos",
                "td3",
                "sac",
                "--worlds-envs",
                "Hopper-v5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((out / "gpu_offpolicy_worlds.csv").open()))
    assert [(r["algo"], r["env"]) for r in rows] == [("td3", "Hopper-v5"), ("sac", "Hopper-v5")]
    for r in rows:
        # readings: t0, 1 (< 3: one iteration of 5 vector steps, its time 2), 3 (stop), 4 (wall)
        assert int(r["env_steps"]) == 40 and float(r["wall_s"]) == 4.0 and float(r["budget_s"]) == 3.0
        assert float(r["env_steps_per_s"]) == 10.0
        assert float(r["test_return"]) == float(r["test_return"])  # the test episodes ran (a number, not NaN)
    md = (out / "gpu_offpolicy.md").read_text()
    assert "| td3 | Hopper-v5 | 3 s |" in md and "3,000 within 300 s: not met (run shorter than 5 min)" in md
    # past the deadline: every run is skipped at once
    out2 = tmp_path / "late"
    assert gpu_offpolicy.main(["--device", "cpu", "--phases", "worlds", "--deadline-s", "0", "--out", str(out2)]) == 0
    rows = list(csv.DictReader((out2 / "gpu_offpolicy_worlds.csv").open()))
    assert len(rows) == 4 and all(r["note"] == "skipped: --deadline-s reached" for r in rows)


def test_gpu_offpolicy_1m_suite_runs_spinningup_settings_on_the_device(tmp_path):
    """benchmarks/gpu_offpolicy_1m.py's suite file: `rlmeta bench` reads it, and each (algo, env) group is
    one `--seeds K` process with the spinningup preset, --compile (the CUDA-graph update) on the device."""
    import yaml

    from rlmeta.benchmarks import gpu_offpolicy_1m
    from rlmeta.benchmarks.suites import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(gpu_offpolicy_1m.suite_yaml(["ddpg", "sac"], ["Hopper-v5"], 1_000_000, "cuda")))
    suite = load_suite(str(path))
    specs = suite.specs("1m", 3, tmp_path / "runs")
    leaders = [s for s in specs if not s.is_complete()]
    assert [(s.algo, s.seed) for s in leaders] == [("ddpg", 0), ("sac", 0)]
    argv = leaders[0].argv()
    assert argv[:4] == ["train", "ddpg", "--seeds", "3"]
    assert argv[argv.index("--preset") + 1] == "spinningup" and argv[argv.index("--total-steps") + 1] == "1000000"
    assert "--compile" in argv and argv[argv.index("--device") + 1] == "cuda"
