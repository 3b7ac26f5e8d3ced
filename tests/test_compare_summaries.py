"""benchmarks/compare_summaries.py: rows joined by (algo, env, step), the spread rule by hand."""

from __future__ import annotations

import pytest

from rlmeta.benchmarks.compare_summaries import compare, plot

HEAD = "| algo | env | step | rlmeta (mean +- std) | seeds | Spinning Up | ratio | wall time | SPS |\n|---|---|---:|\n"


def test_compare_joins_rows_and_applies_the_spread_rule(tmp_path):
    old, new = tmp_path / "old.md", tmp_path / "new.md"
    old.write_text(
        HEAD + "| ppo | Hopper-v5 | 1,000,000 | 1864 +- 196 | 2 | x |\n| vpg | Hopper-v5 | 500,000 | 232 +- 7 | 2 |\n"
    )
    new.write_text(
        HEAD + "| ppo | Hopper-v5 | 1,000,000 | 2150 +- 50 | 3 | x |\n| vpg | Hopper-v5 | 500,000 | 245 +- 10 | 2 |\n"
        "| trpo | Hopper-v5 | 500,000 | 1 +- 1 | 2 |\n"
    )
    lines = compare(old, new, "before", "after")
    body = [line for line in lines if line.startswith("| ppo") or line.startswith("| vpg")]
    assert body[0].endswith("| +286 | **no** |")  # 286 > 196 + 50
    assert body[1].endswith("| +13 | yes |")  # 13 <= 7 + 10
    assert "1 of 2 rows within" in lines[-1] and not any(line.startswith("| trpo") for line in lines)
    with pytest.raises(SystemExit):
        (tmp_path / "empty.md").write_text("no table")
        compare(tmp_path / "empty.md", new, "a", "b")


def test_plot_draws_both_sides_from_their_csvs(tmp_path):
    head = "algo,env,step,mean,std,seeds\n"
    (tmp_path / "old.csv").write_text(head + "ppo,Breakout,200,8,1,2\nppo,Breakout,100,4,1,2\nvpg,Hopper,100,1,0,2\n")
    (tmp_path / "new.csv").write_text(head + "ppo,Breakout,100,5,2,2\nppo,Breakout,200,9,0.5,2\n")
    fig = plot(tmp_path / "old.csv", tmp_path / "new.csv", "fp32", "bf16", tmp_path / "p.png")
    (ax,) = fig.axes  # only the (algo, env) both sides have
    old, new = ax.get_lines()
    assert list(old.get_xdata()) == [100, 200] and list(old.get_ydata()) == [4.0, 8.0]  # sorted by step
    assert list(new.get_ydata()) == [5.0, 9.0] and old.get_label() == "fp32"
    assert (tmp_path / "p.png").stat().st_size > 0
