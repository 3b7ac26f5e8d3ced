"""`rlmeta bench`, `rlmeta plot` and `rlmeta compare`.

Examples:
    rlmeta bench smoke                                   # a few minutes on 2 cores
    rlmeta bench spinningup-mujoco --budget 1m --seeds 3 --out runs/su-1m
    rlmeta bench spinningup-mujoco --budget 3m --executor ray --ray-address auto
    rlmeta plot runs/su-1m --out plots/
    rlmeta compare runs/su-1m runs/my-idea
"""

from __future__ import annotations

import difflib
import math
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import tyro

from rlmeta.app.cli import parse_command
from rlmeta.benchmarks import report
from rlmeta.benchmarks.suites import builtin_suites, load_suite
from rlmeta.core.errors import ConfigError, require_extra

BENCH_DESCRIPTION = (
    "Run a benchmark suite (resumable), then write DIR/summary.md and DIR/<env>.png.\n\n"
    "Built-in suites: {suites} (benchmarks/suites/*.yaml); SUITE may also be a path to your own suite YAML "
    "file.\n\nRerunning the same command resumes: complete runs are skipped, interrupted ones continue from "
    "their last checkpoint, finished ones extend to a larger --budget."
)


@dataclass
class BenchArgs:
    """`rlmeta bench SUITE [FLAGS]`."""

    suite: tyro.conf.Positional[str] = tyro.MISSING
    """Suite name or YAML file."""
    budget: Literal["suite", "smoke", "quick", "1m", "3m"] = "suite"
    """Env steps per run: smoke, quick (300k), 1m or 3m (exact numbers in the suite file); suite: the suite's default_budget."""
    seeds: int = 0
    """Seeds per (algo, env), 0..K-1 (default: the suite's number)."""
    out: Optional[Path] = None
    """Output directory (default: runs/bench-SUITE-BUDGET)."""
    executor: Literal["local", "ray"] = "local"
    """local: parallel processes on this machine; ray: tasks on a Ray cluster (extra `dist`)."""
    jobs: int = os.cpu_count() or 1
    """Local executor: runs in parallel (default: the number of CPU cores)."""
    ray_address: Optional[str] = None
    """Ray executor: cluster address for ray.init (e.g. auto or ray://host:10001); default starts a local Ray."""
    wandb: Literal["disabled", "offline", "online"] = "disabled"
    """W&B mode of every run (group={algo}-{env}, job_type=bench, tags suite:/budget:)."""
    only: tuple[str, ...] = ()
    """Run only these algos and/or envs (e.g. --only ddpg td3 Hopper-v5: DDPG and TD3 on Hopper); an env outside the suite's default_envs runs only when named here (--only Walker2d-v5 Swimmer-v5 Ant-v5); summary.md still covers every run of the suite found in --out."""
    report_only: bool = False
    """Skip training; rewrite summary.md and plots."""
    at: tuple[int, ...] = ()
    """Steps of the summary table's rows (default: 500k, 1M, 3M, or a run's last step); e.g. --at 200000 250000 300000 for a 300k budget, where the smoothing window of the earlier two reaches both ways."""


def parse_bench_args(argv: list[str]) -> BenchArgs:
    description = BENCH_DESCRIPTION.format(suites=", ".join(builtin_suites()))
    args = parse_command(BenchArgs, argv, "rlmeta bench", description)
    if "--only" in argv and not args.only:
        raise ConfigError("rlmeta bench: --only: expected at least one ALGO_OR_ENV")
    if any(a == "--seeds" or a.startswith("--seeds=") for a in argv) and args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    return args


def cmd_bench(argv: list[str]) -> int:
    args = parse_bench_args(argv)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    if args.at and min(args.at) <= 0:
        raise ConfigError(f"--at: steps must be positive, got {min(args.at)}")
    if args.executor == "ray":
        require_extra("ray", "dist", "--executor ray")
    suite = load_suite(args.suite)
    budget = suite.default_budget if args.budget == "suite" else args.budget
    seeds = args.seeds or suite.seeds
    out = args.out or Path("runs") / f"bench-{suite.name}-{budget}"
    all_specs = suite.specs(budget, seeds, out, args.wandb, envs=suite.envs)
    specs = suite.specs(budget, seeds, out, args.wandb)  # the default envs
    if args.only:  # naming an env reaches every env of the suite, not only the default ones
        specs = filter_specs(all_specs if set(args.only) & set(suite.envs) else specs, args.only, suite.name)
    out.mkdir(parents=True, exist_ok=True)
    command = "rlmeta bench " + " ".join(shlex.quote(a) for a in argv)
    print(
        f"rlmeta bench: {suite.name}, budget {budget} ({suite.total_steps(budget):,} steps), {seeds} seed(s), "
        f"{len(specs)} runs -> {out}",
        file=sys.stderr,
    )
    failed: list[str] = []
    if not args.report_only:
        if args.executor == "ray":
            from rlmeta.benchmarks.executors import run_ray

            failed = run_ray(specs, args.ray_address, num_cpus=args.jobs)
        else:
            from rlmeta.benchmarks.executors import run_local

            failed = run_local(specs, args.jobs, out / "logs")
    # the summary covers every run of the suite found in `out`, not only the ones this call ran
    write_report(
        out,
        [s.run_dir for s in all_specs if s.run_dir.exists()],
        title=f"{suite.name}, budget {budget}",
        command=command,
        milestones=tuple(args.at) if args.at else report.MILESTONES,
    )
    if failed:
        print(
            f"rlmeta bench: {len(failed)} run(s) failed: {', '.join(failed)}; rerun the same command to retry",
            file=sys.stderr,
        )
        return 1
    return 0


def filter_specs(specs: list, only: list[str], suite_name: str) -> list:
    """Keep the specs whose algo is among the listed algos (if any is listed) and whose env is among
    the listed envs (if any is listed): `--only ddpg td3 Hopper-v5` = DDPG and TD3 on Hopper."""
    algos = {s.algo for s in specs} & set(only)
    envs = {s.env for s in specs} & set(only)
    unknown = set(only) - algos - envs
    if unknown:
        raise ConfigError(
            f"--only {' '.join(sorted(unknown))} matches no algo or env of suite {suite_name} "
            f"(algos: {', '.join(sorted({s.algo for s in specs}))}; "
            f"envs: {', '.join(sorted({s.env for s in specs}))})"
        )
    return [s for s in specs if (not algos or s.algo in algos) and (not envs or s.env in envs)]


SUMMARY_COLUMNS = [
    "algo",
    "env",
    "step",
    "mean",
    "std",
    "seeds",
    "ref_mean",
    "ref_std",
    "ref_source",
    "ratio",
    "wall_time",
    "sps",
]


def write_report(
    out: Path, run_dirs: list[Path], title: str, command: str | None, milestones: tuple[int, ...] = report.MILESTONES
) -> Path:
    """summary.md (with summary.csv: every number of its table) and one plot per env."""
    runs = report.load_runs(run_dirs)
    curves = report.group_curves(runs)
    plots = report.plot_all(curves, out)
    path = out / "summary.md"
    path.write_text(
        report.summary_markdown(
            curves, title=title, command=command, plots=[p.name for p in plots], milestones=milestones
        )
    )
    report.write_csv(out / "summary.csv", report.summary_rows(curves, milestones), SUMMARY_COLUMNS)
    print(
        f"rlmeta bench: wrote {path}, summary.csv and {', '.join(p.name for p in plots) or 'no plots'}", file=sys.stderr
    )
    return path


def _load(paths: list[Path], metric: str | None) -> list[report.Run]:
    """The runs under paths; a ConfigError when there are none or none has the --metric column."""
    runs = report.load_runs(paths)
    if not runs:
        raise ConfigError(f"no run directories (with config.json and progress.csv) in {' '.join(map(str, paths))}")
    if metric is not None and not any(metric in r.columns for r in runs):
        columns = sorted({c for r in runs for c in r.columns} - {"global_step"})
        close = difflib.get_close_matches(metric, columns, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"--metric {metric}: no run has this progress.csv column{hint}; columns: {', '.join(columns)}"
        )
    return runs


@dataclass
class PlotArgs:
    """`rlmeta plot RUNS... [FLAGS]`."""

    runs: tyro.conf.Positional[tuple[Path, ...]] = tyro.MISSING
    """Run directories, or directories that contain runs (at any depth)."""
    out: Path = Path("plots")
    """Output directory for <env>.png."""
    metric: Optional[str] = None
    """progress.csv column to plot (default: the protocol metric: charts/episodic_return for on-policy, charts/test_return for off-policy agents)."""
    smooth: int = report.SMOOTH
    """Smoothing window in logged points (1: none)."""
    reference: bool = True
    """Overlay the reference curves (Spinning Up's, CleanRL's published points); --no-reference leaves them out."""


def cmd_plot(argv: list[str]) -> int:
    args = parse_command(
        PlotArgs,
        argv,
        "rlmeta plot",
        "Plot learning curves (seed mean +- std, Spinning Up smoothing) of run directories, one PNG per "
        "environment, with Spinning Up's reference curves dashed. Runs are seeds of one curve when algo, env and "
        "config agree (seed, run dir, logging and device aside); runs that repeat a seed get curves of their own.",
    )
    if not args.runs:
        raise ConfigError("rlmeta plot: give at least one run directory")
    if args.smooth < 1:
        raise ConfigError(f"--smooth must be >= 1 (1: no smoothing), got {args.smooth}")
    runs = _load(list(args.runs), args.metric)
    curves = report.group_curves(runs, args.metric, args.smooth)
    for path in report.plot_all(curves, args.out, with_reference=args.reference):
        print(path)
    return 0


@dataclass
class CompareArgs:
    """`rlmeta compare RUNS... [FLAGS]`."""

    runs: tyro.conf.Positional[tuple[Path, ...]] = tyro.MISSING
    """Run directories, or directories that contain runs (at any depth)."""
    metric: Optional[str] = None
    """progress.csv column (default: the protocol metric)."""


def cmd_compare(argv: list[str]) -> int:
    args = parse_command(
        CompareArgs,
        argv,
        "rlmeta compare",
        "Print a markdown table of runs: steps, final and best return (protocol metric, smoothed), wall time "
        "and SPS, one row per run.",
    )
    if not args.runs:
        raise ConfigError("rlmeta compare: give at least one run directory")
    runs = _load(list(args.runs), args.metric)
    print("| run | algo | env | seed | steps | final return | best return | wall time | SPS |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    missing: dict[str, list[str]] = {}  # why a cell reads "-" -> the runs concerned
    for r in runs:
        metric = args.metric or report.metric_for(r.algo)
        _, y = r.series(args.metric)
        ys = report.smooth(y)
        final = f"{ys[-1]:.1f}" if len(ys) else "-"
        best = f"{ys.max():.1f}" if len(ys) else "-"
        sps = f"{r.sps:.0f}" if math.isfinite(r.sps) else "-"
        if not len(ys):
            if metric not in r.columns:
                why = f"no {metric} column in progress.csv"
            else:
                why = f"no {metric} value logged yet"
                if metric == "charts/test_return":
                    why += " (off-policy agents log it at each evaluation, every eval_every steps)"
            missing.setdefault(f'final/best return "-": {why}', []).append(str(r.path))
        if not math.isfinite(r.sps):
            missing.setdefault('wall time/SPS "-": progress.csv logs no time (time/elapsed, charts/SPS)', []).append(
                str(r.path)
            )
        print(
            f"| {r.path} | {r.algo} | {r.env} | {r.seed} | {r.steps:,} | {final} | {best} "
            f"| {report.fmt_duration(r.wall_time)} | {sps} |"
        )
    metrics = sorted({args.metric or report.metric_for(r.algo) for r in runs})
    print(
        f"\nfinal/best return: {', '.join(metrics)}, each run smoothed over {report.SMOOTH} logged points "
        f"(Spinning Up's centred window; at the last point it reaches back only, over {report.SMOOTH // 2 + 1})."
    )
    for why, names in missing.items():
        print(f"{why} ({', '.join(names)}).")
    return 0
