"""benchmarks/atari_env_throughput.py on a tiny budget: the three variants step real emulators with the same
observation layout, and the table, the CSV and the ratios agree with each other."""

from __future__ import annotations

import csv

import pytest

from rlmeta.benchmarks import atari_env_throughput as bench
from tests.figures import assert_figure


def test_atari_env_throughput_tiny(tmp_path):
    out = tmp_path / "tp"
    assert bench.main(["--envs", "2", "--steps", "6", "--rounds", "2", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "atari_env_throughput.csv").open()))
    assert [r["variant"] for r in rows] == list(bench.VARIANTS)
    md = (out / "atari_env_throughput.md").read_text()
    for r in rows:
        med, lo, hi = float(r["median_env_steps_per_s"]), float(r["min"]), float(r["max"])
        assert 0 < lo <= med <= hi and r["envs"] == "2" and r["steps"] == "6"
        assert f"| {r['variant']} | {med:,.0f} | {lo:,.0f} - {hi:,.0f} | {float(r['native_over_this']):.2f} |" in md
    assert float(rows[0]["native_over_this"]) == 1.0
    # with 2 rounds the per-round ratio's median is the mean of the two ratios, between their min and max
    for r in rows[1:]:
        ratio = float(r["native_over_this"])
        bound = float(rows[0]["max"]) / float(r["min"]), float(rows[0]["min"]) / float(r["max"])
        assert min(bound) - 1e-9 <= ratio <= max(bound) + 1e-9
    assert_figure(out / "atari_env_throughput.png")


def test_each_variant_gives_uint8_frame_stacks_of_the_same_game():
    for v in bench.VARIANTS:
        r = bench.build(v, "BreakoutNoFrameskip-v4", 2)
        try:
            assert r.n_actions == 4 and r.obs.shape == (2, 4, 84, 84) and r.obs.dtype == "uint8"
            r.run([[1, 1]] * 3)  # FIRE: the frames change
            assert r.obs.shape == (2, 4, 84, 84) and r.obs[:, -1].mean() > 0
        finally:
            r.close()
    with pytest.raises(Exception, match="not an Atari id"):
        bench.build(bench.VARIANTS[1], "Hopper-v5", 1)
