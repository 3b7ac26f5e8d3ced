"""benchmarks/env_throughput.py in a tiny configuration: every variant of each named task is measured and
the report's table, CSV and figure hold the numbers it measured."""

from __future__ import annotations

import csv

from figures import assert_figure  # tests/figures.py


def test_env_throughput_script_tiny(tmp_path):
    from rlmeta.benchmarks import env_throughput

    out = tmp_path / "env_tp"
    assert (
        env_throughput.main(
            [
                "--tasks",
                "Hopper-v5",
                "Ant-v5",
                "--envs",
                "2",
                "--threads",
                "1",
                "--steps",
                "5",
                "--rounds",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((out / "env_throughput.csv").open()))
    assert [(r["task"], r["variant"]) for r in rows] == [
        (t, v) for t in ("Hopper-v5", "Ant-v5") for v in env_throughput.VARIANTS
    ]
    assert all(float(r["min"]) <= float(r["median_env_steps_per_s"]) <= float(r["max"]) for r in rows)
    md = (out / "env_throughput.md").read_text()
    for r in rows[::3]:  # the batched backend's column of each task's row
        assert f"| {r['task']} | {float(r['median_env_steps_per_s']):,.0f} |" in md
    assert_figure(out / "env_throughput.png")
