"""benchmarks/gpu_first_runs.py: the three never-run GPU pipelines, each in its own process under its own
deadline. Here in their tiny CPU configurations, and with one pipeline failing and one overrunning."""

from __future__ import annotations

import csv

from rlmeta.benchmarks import gpu_first_runs


def test_tiny_runs_of_all_three_each_write_their_report(tmp_path):
    assert gpu_first_runs.main(["--tiny", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "gpu_first_runs.csv").open()))
    assert [r["pipeline"] for r in rows] == ["gpu_offpolicy", "gpu_maml", "gpu_alphazero"]
    assert all(r["status"] == "ok" and r["exit_code"] == "0" for r in rows)
    for r in rows:  # each pipeline's own report, where the summary links it
        assert (tmp_path / r["pipeline"] / f"{r['pipeline']}.md").stat().st_size > 0
    md = (tmp_path / "gpu_first_runs.md").read_text()
    assert "| [gpu_maml](gpu_maml/gpu_maml.md) | ok |" in md


def test_a_failure_and_an_overrun_are_reported_and_cost_the_others_nothing(tmp_path, monkeypatch):
    script, gpu, tiny, deadline = gpu_first_runs.PIPELINES["gpu_maml"]
    monkeypatch.setitem(gpu_first_runs.PIPELINES, "gpu_maml", (script, gpu, [*tiny, "--no-such-flag"], deadline))
    assert gpu_first_runs.main(["--tiny", "--only", "gpu_maml", "gpu_alphazero", "--out", str(tmp_path)]) == 1
    rows = {r["pipeline"]: r for r in csv.DictReader((tmp_path / "gpu_first_runs.csv").open())}
    assert rows["gpu_maml"]["status"] == "failed (exit 2)" and "--no-such-flag" in rows["gpu_maml"]["log_tail"]
    assert rows["gpu_alphazero"]["status"] == "ok"  # ran after the failure, as if alone
    # a pipeline past its deadline is killed and says so (here: 0.5 s, less than its start-up)
    row = gpu_first_runs.run_one("gpu_alphazero", tiny, 0.5, tmp_path / "late")
    assert row["status"] == "killed at its 0.5 s deadline" and row["exit_code"] == ""
