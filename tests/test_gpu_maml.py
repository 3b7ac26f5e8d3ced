"""benchmarks/gpu_maml.py (the MAML GPU check) in a tiny configuration on the CPU MuJoCo backend
(the warp path of the same trainer is run by tests/test_maml_bench.py and test_maml_rl_batched.py):
MAML, random init and pretraining on both cheetah families, the paired comparison and the files."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from figures import assert_figure  # tests/figures.py


def test_gpu_maml_script_tiny_on_cpu(tmp_path):
    from rlmeta.benchmarks import gpu_maml

    out = tmp_path / "gpu_maml"
    assert (
        gpu_maml.main(
            [
                "--env-backend",
                "mujoco",
                "--device",
                "cpu",
                "--env-threads",
                "1",
                "--meta-batch",
                "2",
                "--rollouts",
                "2",
                "--horizon",
                "5",
                "--eval-tasks",
                "2",
                "--max-iters",
                "2",
                "--hidden-sizes",
                "16",
                "--baseline-lrs",
                "0.1",
                "0.5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    md = (out / "gpu_maml.md").read_text()
    assert_figure(out / "gpu_maml.png")
    assert "CPU run" in md and "ant-dir: **not run**" in md and "nan" not in md
    evals = list(csv.DictReader((out / "gpu_maml_eval.csv").open()))
    for fam in ("cheetah-dir", "cheetah-vel"):
        rows = list(csv.DictReader((out / f"gpu_maml_train_{fam}.csv").open()))
        # MAML: 2 tasks x 2 rollouts x 5 steps x (pre + post) = 40 steps per iteration; pretraining
        # samples once per iteration, so it takes 4 iterations for MAML's 80 env steps
        assert [int(r["global_step"]) for r in rows if r["method"] == "MAML"] == [40, 80]
        assert [int(r["global_step"]) for r in rows if r["method"] == "pretrained"] == [20, 40, 60, 80]
        # every method evaluated on the same 2 held-out tasks; the baselines at both step sizes
        ev = [r for r in evals if r["family"] == fam]
        assert {(r["method"], r["inner_lr"]) for r in ev} == {
            ("MAML", "0.1"),
            ("pretrained", "0.1"),
            ("pretrained", "0.5"),
            ("random init", "0.1"),
            ("random init", "0.5"),
        }
        tasks = {(r["method"], r["inner_lr"]): [] for r in ev}
        for r in ev:
            tasks[(r["method"], r["inner_lr"])].append(r["task"])
        assert len({tuple(t) for t in tasks.values()}) == 1 and len(next(iter(tasks.values()))) == 2
        # the paired row: MAML's 1-step return minus the reported pretrained step size's, task by task
        one = {
            m: np.array([float(r["return_1"]) for r in ev if r["method"] == m and r["reported"] == "1"])
            for m in ("MAML", "pretrained")
        }
        d = one["MAML"] - one["pretrained"]
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
        row = next(
            line
            for line in md.splitlines()
            if line.startswith(f"| {fam} | ")
            and line.count("+-") == 4
            and not any(m in line for m in ("MAML", "pretrained", "random"))
        )
        mean_s, half_s = row.split("|")[3].split("+-")
        assert float(mean_s) == pytest.approx(d.mean(), abs=0.051) and float(half_s) == pytest.approx(half, abs=0.051)
    target_lines = [line for line in md.splitlines() if line.startswith("- cheetah-")]
    assert len(target_lines) == 2 and all(("**met**" in t) != ("**not met**" in t) for t in target_lines)


@pytest.mark.parametrize("start, expected", [(0.0, [100.0, 50.0]), (170.0, [60.0, 50.0]), (300.0, [0.0, 0.0])])
def test_planner_shrinks_the_training_budgets_to_the_deadline(start, expected):
    """Deadline 300 s, phases of 100 s and 50 s, 20 s kept for each of 2 evaluations, each phase using
    all it is given. From t = 170: 300 - 170 - 40 = 90 s for 150 planned, so 0.6 x 100 = 60; then at
    t = 230, one evaluation done: 300 - 230 - 20 = 50 s, the second phase at full size."""
    from rlmeta.benchmarks.gpu_maml import Planner

    t = [start]
    plan = Planner(deadline=300.0, phases=[100.0, 50.0], eval_reserve_s=20.0, evals=2, clock=lambda: t[0])
    got = [plan.next_budget()]
    t[0] += got[0]
    plan.evaluated()
    got.append(plan.next_budget())
    assert got == pytest.approx(expected)
