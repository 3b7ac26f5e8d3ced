"""benchmarks/vs_reference.py and CleanRL's Breakout curve: the reference read at the table's steps,
the ratios by hand, the figure drawn from the same rows as the CSV."""

from __future__ import annotations

import csv

import pytest

from rlmeta.benchmarks import report
from rlmeta.benchmarks.vs_reference import main
from tests.figures import assert_figure


def test_cleanrl_breakout_curve_is_read_every_100k_and_ends_at_the_published_return():
    ref = report.reference("ppo", "BreakoutNoFrameskip-v4")
    assert ref is not None and not ref.is_point and not ref.spinning_up and ref.source == "CleanRL ppo_atari.py"
    assert list(ref.steps[:3]) == [100_000, 200_000, 300_000] and len(ref.steps) == 100
    assert ref.at(1_000_000) == (19.2, 3.1)  # the figure's line and half its band at 1M
    assert ref.at(10_000_000) == (414.66, 28.09)  # the published table value is the last row
    assert ref.at(150_000)[0] == pytest.approx((3.1 + 5.0) / 2)  # interpolated between 100k and 200k
    assert abs(ref.at(9_900_000)[0] - 414.66) < 28.09  # the reading meets the table within its std
    assert report.reference("ppo", "CartPole-v1").is_point  # classic control: one published number


def test_vs_reference_writes_ratios_against_the_curve_and_draws_both(tmp_path):
    head = "algo,env,step,mean,std,seeds,ref_mean,ref_std,ref_source,ratio,wall_time,sps\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.csv").write_text(
        head + "ppo,BreakoutNoFrameskip-v4,1000000,20,1,2,,,,,1,1\nppo,BreakoutNoFrameskip-v4,500000,14,1,2,,,,,1,1\n"
    )
    (tmp_path / "b.csv").write_text(head + "ppo,ALE/Breakout-v5,1000000,9.6,2,2,,,,,1,1\n")
    out = tmp_path / "pages" / "vs"
    argv = [str(tmp_path / "a" / "summary.csv"), f"{tmp_path / 'b.csv'}=sticky", "--out", str(out)]
    main([*argv, "--reference", "ppo", "BreakoutNoFrameskip-v4", "--title", "T", "--note", "Why it's run."])
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [(r["label"], r["env"], int(r["step"])) for r in rows] == [
        ("a", "BreakoutNoFrameskip-v4", 500_000),  # the label defaults to the summary's folder; steps sorted
        ("a", "BreakoutNoFrameskip-v4", 1_000_000),
        ("sticky", "ALE/Breakout-v5", 1_000_000),
    ]
    assert float(rows[0]["ref_mean"]) == 10.3 and float(rows[0]["ratio"]) == pytest.approx(14 / 10.3)
    assert float(rows[2]["ratio"]) == pytest.approx(9.6 / 19.2)
    md = out.with_suffix(".md").read_text()
    assert "| step | a (ratio) | sticky (ratio) | reference |" in md
    assert "| 500,000 | 14 +- 1 (1.36) | - | 10.3 +- 1.8 |" in md
    assert "| 1,000,000 | 20 +- 1 (1.04) | 10 +- 2 (0.50) | 19.2 +- 3.1 |" in md
    assert "![T](vs.png)" in md and "[vs.csv](vs.csv)" in md and "\nWhy it's run.\n" in md
    assert "--title T --note NOTE` (NOTE: the paragraph above)" in md
    assert_figure(out.with_suffix(".png"))
    with pytest.raises(SystemExit, match="no published reference"):
        main([*argv, "--reference", "ppo", "Pong-v9"])
    with pytest.raises(SystemExit, match="is not a file"):
        main([str(tmp_path / "missing.csv"), "--out", str(out), "--reference", "ppo", "CartPole-v1"])
