"""Benchmark suites: resume, summary numbers against a direct computation, plots, Ray executor."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rlmeta.app.cli import main as rlmeta_main
from rlmeta.app.runner import default_run_dir
from rlmeta.benchmarks import report
from rlmeta.benchmarks.cli import cmd_bench
from rlmeta.benchmarks.suites import load_suite
from rlmeta.core.config import RunConfig

TINY_SUITE = """
name: tiny
algos:
  ppo: {preset: spinningup}
envs: [Hopper-v5]
seeds: 2
default_budget: smoke
budgets: {smoke: 1000, quick: 2000, 1m: 1000000, 3m: 3000000}
overrides: {num_envs: 1, num_steps: 500, update_epochs: 2}
"""


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SUITE)
    return path


def test_suite_resume_skips_complete_runs_and_continues_interrupted_ones(tiny_suite: Path, tmp_path: Path):
    out = tmp_path / "bench"
    assert cmd_bench([str(tiny_suite), "--out", str(out), "--jobs", "1"]) == 0
    s0, s1 = out / "ppo-Hopper-v5-s0", out / "ppo-Hopper-v5-s1"
    for d in (s0, s1):
        assert (d / "done").read_text().strip() == "1000"
    cfg = json.loads((s0 / "config.json").read_text())
    assert cfg["wandb_job_type"] == "bench" and "suite:tiny" in cfg["wandb_tags"] and cfg["num_steps"] == 500
    s0_progress = (s0 / "progress.csv").read_bytes()
    s0_mtime = (s0 / "progress.csv").stat().st_mtime_ns

    # the suite is "killed" while s1 runs: s1 holds a checkpoint at 500 steps and no done marker
    shutil.rmtree(s1)
    assert (
        rlmeta_main(
            [
                "train",
                "ppo",
                "--preset",
                "spinningup",
                "--env",
                "Hopper-v5",
                "--seed",
                "1",
                "--total-steps",
                "500",
                "--num-envs",
                "1",
                "--num-steps",
                "500",
                "--update-epochs",
                "2",
                "--run-dir",
                str(s1),
                "--no-progress",
            ]
        )
        == 0
    )
    (s1 / "done").unlink()
    first_row = (s1 / "progress.csv").read_text().splitlines()[1]

    assert cmd_bench([str(tiny_suite), "--out", str(out), "--jobs", "1"]) == 0
    assert (s0 / "progress.csv").read_bytes() == s0_progress  # complete run untouched
    assert (s0 / "progress.csv").stat().st_mtime_ns == s0_mtime
    lines = (s1 / "progress.csv").read_text().splitlines()
    assert lines[1] == first_row  # the interrupted run continued rather than restarting
    assert [int(float(r.split(",")[0])) for r in lines[1:]] == [500, 1000]
    assert "--resume" in (out / "logs" / "ppo-Hopper-v5-s1.log").read_text()
    assert (out / "summary.md").exists() and (out / "Hopper-v5.png").exists()
    # --at picks the table's steps; summary.csv holds every number of the table
    assert cmd_bench([str(tiny_suite), "--out", str(out), "--report-only", "--at", "500", "1000"]) == 0
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["algo"], r["step"], r["seeds"]) for r in rows] == [("ppo", "500", "2"), ("ppo", "1000", "2")]
    table = (out / "summary.md").read_text()
    for r in rows:
        assert (
            f"| ppo | Hopper-v5 | {int(r['step']):,} | {float(r['mean']):.0f} +- {float(r['std']):.0f} | 2 |" in table
        )

    # a larger budget extends finished runs from their checkpoints
    assert cmd_bench([str(tiny_suite), "--out", str(out), "--jobs", "2", "--budget", "quick"]) == 0
    assert (s0 / "progress.csv").read_text().startswith(s0_progress.decode())
    assert (s0 / "done").read_text().strip() == "2000"


def _write_run(
    d: Path, algo: str, seed: int, steps: np.ndarray, returns: np.ndarray, metric: str, elapsed: np.ndarray, **config
) -> None:
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"algo": algo, "env": "Hopper-v5", "seed": seed, **config}))
    with (d / "progress.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["global_step", metric, "time/elapsed"])
        for s, r, t in zip(steps, returns, elapsed):
            w.writerow([int(s), "" if np.isnan(r) else r, t])


def _smooth_by_hand(y: list[float], window: int = 11) -> list[float]:
    half = window // 2
    return [sum(y[max(0, i - half) : i + half + 1]) / len(y[max(0, i - half) : i + half + 1]) for i in range(len(y))]


def _ref_by_hand(algo: str, step: float) -> float:
    with open(report.REFERENCE_DIR / "pytorch_v3_curves.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["env"] == "Hopper" and r["algo"] == algo]
    xs, ys = [float(r["step"]) for r in rows], [float(r["mean"]) for r in rows]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= step <= x1:
            return y0 + (y1 - y0) * (step - x0) / (x1 - x0)
    raise AssertionError("step outside the reference")


def _parse_summary(text: str) -> dict[tuple[str, int], list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] in ("ppo", "sac"):
            rows[(cells[0], int(cells[2].replace(",", "")))] = cells
    return rows


def test_summary_numbers_equal_a_direct_computation(tmp_path: Path):
    rng = np.random.default_rng(0)
    # on-policy fixture: 4000-step epochs to 600k; seed 1 stops earlier (still past 500k)
    ppo_steps = np.arange(4000, 600_001, 4000)
    ppo = {0: rng.normal(800, 100, len(ppo_steps)), 1: rng.normal(900, 100, len(ppo_steps) - 10)}
    for seed, y in ppo.items():
        _write_run(
            tmp_path / f"ppo-s{seed}",
            "ppo",
            seed,
            ppo_steps[: len(y)],
            y,
            "charts/episodic_return",
            np.linspace(1, 100 + seed * 20, len(y)),
        )
    # off-policy fixture: test_return only every 10k of 1k-step rows (the rows between are empty)
    sac_steps = np.arange(1000, 1_000_001, 1000)
    sac = {}
    for seed in (0, 1, 2):
        y = np.full(len(sac_steps), np.nan)
        y[sac_steps % 10_000 == 0] = rng.normal(3000, 300, 100)
        sac[seed] = y
        _write_run(
            tmp_path / f"sac-s{seed}", "sac", seed, sac_steps, y, "charts/test_return", np.linspace(1, 3600, len(y))
        )

    curves = report.group_curves(report.load_runs([tmp_path]))
    rows = _parse_summary(report.summary_markdown(curves))
    assert set(rows) == {("ppo", 500_000), ("sac", 500_000), ("sac", 1_000_000)}

    # ppo at 500k: smooth each seed over 11 epochs, truncate to the shorter seed, mean/pop-std
    n = len(ppo[1])
    sm = [_smooth_by_hand(list(ppo[s][:n])) for s in (0, 1)]
    i = list(ppo_steps).index(500_000)
    vals = [sm[0][i], sm[1][i]]
    mean, std = sum(vals) / 2, math.sqrt(sum((v - sum(vals) / 2) ** 2 for v in vals) / 2)
    cells = rows[("ppo", 500_000)]
    assert cells[3] == f"{mean:.0f} +- {std:.0f}" and cells[4] == "2"
    ref = _ref_by_hand("PPO", 500_000)
    assert cells[5].startswith(f"{ref:.0f} +- ") and cells[6] == f"{mean / ref:.2f}"
    assert cells[7] == f"{(100 + 120) / 2 / 60:.1f} min"

    for step in (500_000, 1_000_000):
        evals = [_smooth_by_hand([v for v in sac[s] if not np.isnan(v)]) for s in (0, 1, 2)]
        vals = [e[step // 10_000 - 1] for e in evals]
        m = sum(vals) / 3
        sd = math.sqrt(sum((v - m) ** 2 for v in vals) / 3)
        cells = rows[("sac", step)]
        assert cells[3] == f"{m:.0f} +- {sd:.0f}" and cells[4] == "3"
        assert cells[6] == f"{m / _ref_by_hand('SAC', step):.2f}"


def test_plot_files_are_produced(tmp_path: Path):
    rng = np.random.default_rng(1)
    steps = np.arange(4000, 400_001, 4000)
    for seed in (0, 1):
        y = np.linspace(0, 1000, len(steps)) + rng.normal(0, 50, len(steps))
        _write_run(
            tmp_path / "runs" / f"ppo-s{seed}",
            "ppo",
            seed,
            steps,
            y,
            "charts/episodic_return",
            np.linspace(1, 60, len(steps)),
        )
    assert rlmeta_main(["plot", str(tmp_path / "runs"), "--out", str(tmp_path / "plots")]) == 0
    import matplotlib.image

    img = matplotlib.image.imread(tmp_path / "plots" / "Hopper-v5.png")  # [H, W, 4] floats
    assert img.shape[0] > 300 and img.shape[1] > 500
    # the seed-mean line is drawn in tab:green (#2ca02c) and covers a visible stretch of the figure
    green = (
        (np.abs(img[..., 0] - 0x2C / 255) < 0.02)
        & (np.abs(img[..., 1] - 0xA0 / 255) < 0.02)
        & (np.abs(img[..., 2] - 0x2C / 255) < 0.02)
    )
    assert green.sum() > 500


def test_compare_prints_a_row_per_run(tmp_path: Path, capsys):
    steps = np.arange(4000, 80_001, 4000)
    _write_run(
        tmp_path / "a",
        "ppo",
        0,
        steps,
        np.arange(len(steps), dtype=float),
        "charts/episodic_return",
        np.linspace(1, 120, len(steps)),
    )
    assert rlmeta_main(["compare", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out.splitlines()
    row = [c.strip() for c in out[2].strip("|").split("|")]
    # final smoothed value: mean of the last 6 points (window 11 shrinks at the end): 14..19
    assert row[4] == "80,000" and row[5] == f"{np.mean(np.arange(14, 20)):.1f}" and row[7] == "2.0 min"


def _figures(monkeypatch) -> list:
    """Collects the figures report.plot_env closes, for their legends."""
    import matplotlib.pyplot as plt

    figs, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig) or close(fig))
    return figs


def test_plot_groups_runs_by_setting_and_keeps_repeated_seeds_apart(tmp_path: Path, monkeypatch):
    """Three Hopper runs of seed 0 with different budgets are three curves of one seed each (not "3
    seeds" cut to the shortest), nested run dirs are found, two seeds of one setting that differ in
    run dir and W&B name are one curve, a rerun of a seed is a curve of its own, and an algorithm
    with nothing drawn gets no reference curve."""
    runs = tmp_path / "runs"
    rise = lambda n: np.linspace(0, 1000, n)  # noqa: E731
    for name, total in (("hop-100k", 100_000), ("a/b/hop-200k", 200_000), ("a/hop-300k", 300_000)):
        steps = np.arange(4000, total + 1, 4000)
        _write_run(
            runs / name,
            "ppo",
            0,
            steps,
            rise(len(steps)),
            "charts/episodic_return",
            np.linspace(1, 60, len(steps)),
            total_steps=total,
        )
    steps = np.arange(4000, 100_001, 4000)
    for seed in (0, 1):  # one setting: only the seed, run dir and W&B name differ
        _write_run(
            runs / "lr" / f"s{seed}",
            "ppo",
            seed,
            steps,
            rise(len(steps)) + seed,
            "charts/episodic_return",
            np.linspace(1, 60, len(steps)),
            total_steps=100_000,
            actor_lr=1e-3,
            run_dir=f"runs/lr/s{seed}",
            wandb_name=f"lr-s{seed}",
        )
    _write_run(
        runs / "lr-rerun",
        "ppo",
        0,
        steps,
        rise(len(steps)),
        "charts/episodic_return",
        np.linspace(1, 60, len(steps)),
        total_steps=100_000,
        actor_lr=1e-3,
    )
    # an off-policy run before its first evaluation: no test_return value yet
    _write_run(
        runs / "sac",
        "sac",
        0,
        steps,
        np.full(len(steps), np.nan),
        "charts/test_return",
        np.linspace(1, 60, len(steps)),
        total_steps=100_000,
    )

    found = report.find_run_dirs([runs])
    assert len(found) == 7 and runs / "a" / "b" / "hop-200k" in found
    curves = report.group_curves(report.load_runs([runs]))
    by_label = {c.label: c for c in curves.values()}
    assert len(by_label) == len(curves) == 6
    budgets = sorted(
        (int(c.steps[-1]), c.n_seeds)
        for c in curves.values()
        if c.algo == "ppo" and c.n_seeds == 1 and "actor_lr=None" in c.label
    )
    assert budgets == [(100_000, 1), (200_000, 1), (300_000, 1)]
    lr = [c for c in curves.values() if "actor_lr=0.001" in c.label]
    assert sorted(c.n_seeds for c in lr) == [1, 2]  # the two seeds together, the rerun of seed 0 apart
    pair = next(c for c in lr if c.n_seeds == 2)
    assert {p.name for p in pair.paths} == {"s0", "s1"}
    # seeds 0 and 1 are the same ramp, 1 apart: their mean is the smoothed ramp + 0.5
    assert pair.mean[-1] == pytest.approx(_smooth_by_hand(list(rise(len(steps))))[-1] + 0.5)

    figs = _figures(monkeypatch)
    assert rlmeta_main(["plot", str(runs), "--out", str(tmp_path / "plots")]) == 0
    legend = [t.get_text() for t in figs[0].axes[0].get_legend().get_texts()]
    assert sum("(rlmeta, " in t for t in legend) == 5  # the sac curve has no point to draw
    assert sum("Spinning Up" in t for t in legend) == 1 and not any(t.startswith("sac") for t in legend)
    assert len(set(legend)) == len(legend)


def test_compare_explains_dashes_and_smoothing(tmp_path: Path, capsys):
    steps = np.arange(1000, 20_001, 1000)
    _write_run(
        tmp_path / "sac",
        "sac",
        0,
        steps,
        np.full(len(steps), np.nan),
        "charts/test_return",
        np.linspace(1, 60, len(steps)),
    )
    assert rlmeta_main(["compare", str(tmp_path / "sac")]) == 0
    out = capsys.readouterr().out.splitlines()
    row = [c.strip() for c in out[2].strip("|").split("|")]
    assert row[5] == row[6] == "-"
    notes = out[3:]
    assert any("smoothed over 11 logged points" in n and "charts/test_return" in n for n in notes)
    assert any('"-"' in n and "no charts/test_return value logged yet" in n and "sac" in n for n in notes)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "smok"], "did you mean smoke"),
        (["bench", "smoke", "--budget", "10m"], "invalid choice"),
        (["bench", "smoke", "--seeds", "0"], "--seeds must be >= 1"),
        (["bench", "smoke", "--only", "dqn"], "--only dqn matches no algo or env"),
        (["plot", "/nonexistent-dir"], "no run directories"),
    ],
)
def test_bench_bad_input_is_one_clear_line(argv, message, capsys):
    assert rlmeta_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlmeta: error:") and message in err[0]


def test_builtin_suites_load():
    suite = load_suite("spinningup-mujoco")
    specs = suite.specs("1m", 3, Path("out"))
    assert len(specs) == 6 * 2 * 3 and {s.total_steps for s in specs} == {1_000_000}
    assert specs[0].argv()[:4] == ["train", "vpg", "--preset", "spinningup"]
    # runs that share the cores (one env thread each) get one torch thread each; a lone run its default
    assert "--torch-threads" not in specs[0].argv(2)
    argv = specs[0].argv(1)
    assert argv[argv.index("--torch-threads") + 1] == "1"


def test_more_tasks_run_when_named_and_report_against_spinning_up(tmp_path: Path, capsys):
    """The MuJoCo suites list Walker2d, Swimmer and Ant beside their two default tasks: a plain run keeps
    the two (recorded commands keep their meaning), --only ENV reaches the others; their Spinning Up
    curves come from the `_more` reference files (values from README-more.md's table)."""
    suite = load_suite("spinningup-mujoco")
    assert {s.env for s in suite.specs("1m", 1, Path("out"))} == {"HalfCheetah-v5", "Hopper-v5"}
    assert len(suite.specs("1m", 1, Path("out"), envs=suite.envs)) == 6 * 5
    out = tmp_path / "b"
    assert (
        cmd_bench(
            ["onpolicy-mujoco", "--only", "Walker2d-v5", "Ant-v5", "--seeds", "1", "--out", str(out), "--report-only"]
        )
        == 0
    )
    assert ", 6 runs ->" in capsys.readouterr().err  # 3 algos x 2 named envs
    for algo, env, step, mean, std in (
        ("ppo", "Walker2d-v5", 1_000_000, 1211.3, 321.3),
        ("sac", "Ant-v5", 999_999, 3949.4, 1049.9),
        ("ppo", "Swimmer-v5", 3_000_000, 116.5, 22.0),
    ):
        ref = report.reference(algo, env)
        assert ref.source == "PyTorch" and ref.at(step) == pytest.approx((mean, std), abs=0.01)
    assert report.reference("trpo", "Ant-v5").source == "TF1" and report.reference("ppo", "Humanoid-v5") is None
    steps = np.arange(4000, 1_000_001, 4000)
    _write_run(
        tmp_path / "runs" / "ppo-s0",
        "ppo",
        0,
        steps,
        np.full(len(steps), 600.0),
        "charts/episodic_return",
        steps / 1000.0,
        env="Walker2d-v5",
    )
    rows = report.summary_rows(report.group_curves(report.load_runs([tmp_path / "runs"])))
    row = next(r for r in rows if r["step"] == 1_000_000)
    assert (
        row["env"] == "Walker2d-v5"
        and row["ref_mean"] == pytest.approx(1211.3)
        and row["ratio"] == pytest.approx(600 / 1211.3)
    )


def test_only_intersects_algos_and_envs():
    from rlmeta.benchmarks.cli import filter_specs

    specs = load_suite("spinningup-mujoco").specs("smoke", 2, Path("out"))
    both = filter_specs(specs, ["ddpg", "td3", "Hopper-v5"], "s")
    assert sorted((s.algo, s.env, s.seed) for s in both) == [
        ("ddpg", "Hopper-v5", 0),
        ("ddpg", "Hopper-v5", 1),
        ("td3", "Hopper-v5", 0),
        ("td3", "Hopper-v5", 1),
    ]
    assert {s.env for s in filter_specs(specs, ["sac"], "s")} == {"HalfCheetah-v5", "Hopper-v5"}
    assert {s.algo for s in filter_specs(specs, ["Hopper-v5"], "s")} == {"vpg", "trpo", "ppo", "ddpg", "td3", "sac"}


def test_ray_executor_runs_two_tiny_specs(tiny_suite: Path, tmp_path: Path):
    ray = pytest.importorskip("ray")
    from rlmeta.benchmarks.executors import run_ray

    specs = load_suite(str(tiny_suite)).specs("smoke", 2, tmp_path / "ray-bench")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run_ray(specs, address=None) == []
    finally:
        ray.shutdown()
    for s in specs:
        assert s.is_complete()
        steps = [int(float(r.split(",")[0])) for r in (s.run_dir / "progress.csv").read_text().splitlines()[1:]]
        assert steps == [500, 1000]


OFFPOLICY_SUITE = """
name: tiny-off
algos:
  td3: {preset: spinningup}
envs: [Hopper-v5]
seeds: 2
default_budget: smoke
budgets: {smoke: 400, quick: 600, 1m: 1000000, 3m: 3000000}
overrides: {hidden_sizes: [32, 32], batch_size: 32, start_steps: 200, update_after: 100, eval_every: 200,
            eval_episodes: 2, eval_envs: 2, buffer_size: 5000, log_every: 200}
"""


def test_offpolicy_seeds_train_together_and_resume(tmp_path: Path):
    """Off-policy seeds of a suite run as one `rlmeta train --seeds K` process; each seed keeps its
    own run dir (as a separate run would write it), the summary covers both, a larger budget resumes them."""
    suite_file = tmp_path / "off.yaml"
    suite_file.write_text(OFFPOLICY_SUITE)
    out = tmp_path / "bench"
    specs = load_suite(str(suite_file)).specs("smoke", 2, out)
    lead, follow = specs
    assert lead.argv()[:5] == ["train", "td3", "--seeds", "2", "--preset"]
    assert not lead.is_complete() and follow.is_complete()  # the first seed's process trains both
    assert cmd_bench([str(suite_file), "--out", str(out), "--jobs", "2"]) == 0
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["td3-Hopper-v5-s0.log"]  # one process
    for seed in (0, 1):
        d = out / f"td3-Hopper-v5-s{seed}"
        assert (d / "done").read_text().strip() == "400"
        cfg = json.loads((d / "config.json").read_text())
        assert cfg["seed"] == seed and cfg["seeds"] == 1 and cfg["hidden_sizes"] == [32, 32]
        assert cfg["wandb_job_type"] == "bench" and "suite:tiny-off" in cfg["wandb_tags"]
    rows = list(csv.DictReader((out / "summary.csv").open()))  # the numbers of summary.md
    assert rows and all((r["algo"], r["env"], r["seeds"]) == ("td3", "Hopper-v5", "2") for r in rows)  # both seeds
    # a larger budget resumes both seeds from their checkpoints in one process
    resumed = load_suite(str(suite_file)).specs("quick", 2, out)[0].argv()
    assert resumed[:7] == ["train", "td3", "--seeds", "2", "--seed", "0", "--resume"]
    assert cmd_bench([str(suite_file), "--out", str(out), "--budget", "quick", "--jobs", "1"]) == 0
    for seed in (0, 1):
        rows = (out / f"td3-Hopper-v5-s{seed}" / "progress.csv").read_text().splitlines()[1:]
        assert [int(float(r.split(",")[0])) for r in rows] == [200, 400, 600]


def test_classic_control_suite_reports_against_cleanrl_published_returns(tmp_path: Path):
    """classic-control: PPO (classic preset), VPG, TRPO on CartPole-v1 and Acrobot-v1 by default; the reference
    is CleanRL's published ppo.py return at 500k (one number: compared at that step only, drawn as a point)."""
    suite = load_suite("classic-control")
    specs = suite.specs("quick", 3, Path("out"))
    assert {(s.algo, s.env) for s in specs} == {
        (a, e) for a in ("ppo", "vpg", "trpo") for e in ("CartPole-v1", "Acrobot-v1")
    }
    assert {s.total_steps for s in specs} == {500_000} and specs[0].argv()[:4] == [
        "train",
        "ppo",
        "--preset",
        "classic",
    ]
    assert {s.env for s in suite.specs("1m", 1, Path("out"), envs=suite.envs)} >= {"LunarLander-v3"}
    ref = report.reference("ppo", "CartPole-v1")
    assert ref.source == "CleanRL ppo.py" and ref.at(500_000) == (490.04, 6.12)
    assert all(math.isnan(v) for v in ref.at(400_000))
    assert report.reference("ppo", "Acrobot-v1").at(500_000) == (-86.36, 1.32)
    assert report.reference("ppo", "BreakoutNoFrameskip-v4").source == "CleanRL ppo_atari.py"
    assert report.reference("vpg", "CartPole-v1") is None and report.reference("ppo", "LunarLander-v3") is None
    steps = np.arange(512, 500_225, 512)  # 500k steps of 4 x 128 rounded up to whole iterations
    _write_run(
        tmp_path / "runs" / "ppo-s0",
        "ppo",
        0,
        steps,
        np.full(len(steps), 450.0),
        "charts/episodic_return",
        steps / 5000.0,
        env="CartPole-v1",
    )
    curves = report.group_curves(report.load_runs([tmp_path / "runs"]))
    md = report.summary_markdown(curves, milestones=(250_000, 500_000))
    assert "| reference | ratio |" in md and "CleanRL's published final return at 500k" in md
    assert "| ppo | CartPole-v1 | 250,000 | 450 +- 0 | 1 | - |  |" in md
    assert f"| ppo | CartPole-v1 | 500,000 | 450 +- 0 | 1 | 490 +- 6 (CleanRL ppo.py) | {450 / 490.04:.2f} |" in md
    report.plot_all(curves, tmp_path / "plots")
    assert (tmp_path / "plots" / "CartPole-v1.png").stat().st_size > 10_000


def test_seeds_that_log_at_different_steps_are_averaged_step_by_step():
    """Runs that log a return only in iterations where an episode ended (CartPole, Acrobot) have gaps at
    different steps per seed: the curve aligns seeds by step (each holding its last smoothed value), not
    by row index, and reaches the last step every seed reached."""
    steps = np.arange(512, 512 * 11, 512)  # 10 iterations
    a_keep = np.ones(10, bool)
    b_keep = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], bool)  # seed b logged nothing in 3 iterations
    ya, yb = np.arange(10.0), 100 + np.arange(10.0)
    runs = [
        report.Run(
            Path("a"),
            "ppo",
            "CartPole-v1",
            0,
            {"global_step": steps[a_keep] * 1.0, "charts/episodic_return": ya[a_keep]},
        ),
        report.Run(
            Path("b"),
            "ppo",
            "CartPole-v1",
            1,
            {"global_step": steps[b_keep] * 1.0, "charts/episodic_return": yb[b_keep]},
        ),
    ]
    c = report.seed_curve(runs, window=1)
    assert list(c.steps) == list(steps) and c.steps[-1] == 5120
    # at step 1024 seed b holds its value of step 512 (100); at 4608 it holds that of 4096 (107)
    assert c.at(1024) == (pytest.approx((1 + 100) / 2), pytest.approx(49.5))
    assert c.at(4608)[0] == pytest.approx((8 + 107) / 2)
    assert c.at(5120)[0] == pytest.approx((9 + 109) / 2)


def test_atari_suite_runs_the_atari_preset_and_reports_against_cleanrls_curve(tmp_path: Path):
    suite = load_suite("atari")
    specs = suite.specs("1m", 2, Path("out"))
    assert [(s.algo, s.env, s.seed, s.total_steps) for s in specs] == [
        ("ppo", "BreakoutNoFrameskip-v4", 0, 1_000_000),
        ("ppo", "BreakoutNoFrameskip-v4", 1, 1_000_000),
    ]
    assert specs[0].argv()[:4] == ["train", "ppo", "--preset", "atari"]
    # its bfloat16 twin differs in the encoder's precision only, and each run's config says so
    bf16 = load_suite("atari-bf16").specs("1m", 2, Path("out"))
    assert [(s.algo, s.env, s.seed, s.total_steps) for s in bf16] == [
        (s.algo, s.env, s.seed, s.total_steps) for s in specs
    ]
    argv = bf16[0].argv()
    assert argv[:4] == ["train", "ppo", "--preset", "atari"] and "--encoder-precision" not in specs[0].argv()
    assert argv[argv.index("--encoder-precision") + 1] == "bf16"
    ref = report.reference("ppo", "BreakoutNoFrameskip-v4")
    assert ref.at(10_000_000) == (414.66, 28.09) and ref.at(1_000_000) == (19.2, 3.1)  # the figure read at 1M


def test_a_namespaced_env_id_names_one_run_directory_and_one_plot_file(tmp_path: Path):
    """`ALE/Breakout-v5` has a `/`: the suite's run directories, the --seeds template, `rlmeta train`'s
    default run directory and the plot are named with `-` in its place, not nested under a folder `ALE`."""
    specs = load_suite("atari-v5").specs("1m", 2, tmp_path)
    assert [(s.env, s.run_dir) for s in specs] == [
        ("ALE/Breakout-v5", tmp_path / "ppo-ALE-Breakout-v5-s0"),
        ("ALE/Breakout-v5", tmp_path / "ppo-ALE-Breakout-v5-s1"),
    ]
    argv = specs[0].argv()
    assert argv[argv.index("--env") + 1] == "ALE/Breakout-v5" and argv[argv.index("--run-dir") + 1] == str(
        tmp_path / "ppo-ALE-Breakout-v5-s0"
    )
    assert argv[argv.index("--encoder-precision") + 1] == "bf16"
    assert specs[1].seed_dir(7) == tmp_path / "ppo-ALE-Breakout-v5-s7"
    assert default_run_dir("ppo", RunConfig(env="ALE/Breakout-v5", seed=3)) == Path("runs/ppo-ALE-Breakout-v5-s3")
    steps = np.arange(4096, 4096 * 12, 4096)
    _write_run(
        specs[0].run_dir, "ppo", 0, steps, np.arange(11.0), "charts/episodic_return", steps / 400.0, env=specs[0].env
    )
    curves = report.group_curves(report.load_runs([tmp_path]))
    assert [c.env for c in curves.values()] == ["ALE/Breakout-v5"]
    assert [p.name for p in report.plot_all(curves, tmp_path / "plots")] == ["ALE-Breakout-v5.png"]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["ALE-Breakout-v5.png"]
