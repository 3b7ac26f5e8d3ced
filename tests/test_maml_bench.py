"""benchmarks/maml_cheetah.py end to end in a tiny configuration on the warp backend (Warp's CPU
device): MAML, the pretrained baseline and the evaluation all sample through the task-batched env."""

from __future__ import annotations

import pytest
from figures import assert_figure  # tests/figures.py


def test_maml_cheetah_benchmark_runs_on_the_warp_backend(tmp_path):
    pytest.importorskip("mujoco_warp")
    from rlmeta.benchmarks.maml_cheetah import main

    args = [
        "--family",
        "cheetah-dir",
        "--env-backend",
        "warp",
        "--iterations",
        "1",
        "--meta-batch",
        "2",
        "--rollouts",
        "2",
        "--horizon",
        "4",
        "--eval-tasks",
        "2",
        "--baseline-lrs",
        "0.1",
        "--out",
        str(tmp_path / "runs"),
        "--results",
        str(tmp_path / "results"),
    ]
    main(args + ["--train-only", "pretrained"])  # as a second process would, beside --train-only maml
    runs = tmp_path / "runs"
    assert (runs / "pretrain-trpo-cheetah-dir-warp-s0" / "done").exists()
    assert not (runs / "maml-trpo-cheetah-dir-warp-s0").exists() and not (tmp_path / "results").exists()
    main(args + ["--note", "Trained as two processes."])  # trains MAML, reuses the pretrained run, evaluates
    md = (tmp_path / "results" / "maml_cheetah-dir-warp.md").read_text()
    assert "--env-backend warp --device cpu" in md and "env backend warp" in md and "Trained as two processes." in md
    rows = [line for line in md.splitlines() if line.startswith(("| MAML |", "| pretrained |", "| random init |"))]
    assert {r.split("|")[1].strip() for r in rows} == {"MAML", "pretrained", "random init"} and "nan" not in md
    assert_figure(tmp_path / "results" / "maml_cheetah-dir-warp.png")
    # the paired comparison (the CPU target): the mean of the per-task differences equals the
    # difference of the two rows' 1-step means (up to the tables' rounding to 0.1)
    line = next(
        x for x in md.splitlines() if x.startswith("MAML 1 step - pretrained 1 step (paired over held-out tasks)")
    )
    paired = float(line.split(": ")[1].split("+-")[0])
    one_step = {r.split("|")[1].strip(): float(r.split("|")[4].split("+-")[0]) for r in rows}
    assert abs(paired - (one_step["MAML"] - one_step["pretrained"])) <= 0.11
    assert any(f"**{v}**" in line for v in ("above", "below", "not separated from"))
