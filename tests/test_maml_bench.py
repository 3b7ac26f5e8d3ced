"""benchmarks/maml_cheetah.py end to end in a tiny configuration on the warp backend (Warp's CPU
device): MAML, the pretrained baseline and the evaluation all sample through the task-batched env."""

from __future__ import annotations

import pytest


def test_maml_cheetah_benchmark_runs_on_the_warp_backend(tmp_path):
    pytest.importorskip("mujoco_warp")
    from benchmarks.maml_cheetah import main

    main(["--family", "cheetah-dir", "--env-backend", "warp", "--iterations", "1", "--meta-batch", "2",
          "--rollouts", "2", "--horizon", "4", "--eval-tasks", "2", "--baseline-lrs", "0.1",
          "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "results")])
    md = (tmp_path / "results" / "maml_cheetah-dir-warp.md").read_text()
    assert "--env-backend warp --device cpu" in md and "env backend warp" in md
    rows = [line for line in md.splitlines() if line.startswith(("| MAML |", "| pretrained |", "| random init |"))]
    assert {r.split("|")[1].strip() for r in rows} == {"MAML", "pretrained", "random init"} and "nan" not in md
    assert (tmp_path / "results" / "maml_cheetah-dir-warp.png").stat().st_size > 0
