"""Learning curves, the summary table and plots, with Spinning Up's metric protocol.

Protocol (benchmarks/reference/spinningup/README.md):
- on-policy (vpg, trpo, ppo): `charts/episodic_return`, the mean return of the training episodes
  finished in each iteration (a 4000-step epoch with the spinningup preset);
- off-policy (ddpg, td3, sac): `charts/test_return`, 10 deterministic test episodes every 10k steps;
- each seed's curve is smoothed over an 11-point window centred on the point (Spinning Up's
  plot.py: convolve with ones(11), divided by the number of points under the window), then the
  curves are averaged over seeds (mean, population std).

Example:
    >>> runs = load_runs([Path("runs/bench-smoke")])
    >>> curves = group_curves(runs)                      # (algo, env, label) -> Curve
    >>> (Path("runs/bench-smoke") / "summary.md").write_text(summary_markdown(curves))
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlmeta.core.env_ids import path_name
from rlmeta.core.errors import ConfigError

REFERENCE_DIR = Path(__file__).parent / "reference" / "spinningup"
CLEANRL_DIR = Path(__file__).parent / "reference" / "cleanrl"
SPINNING_UP_SOURCES = ("PyTorch", "TF1")  # Reference.source of Spinning Up's curves (others: CleanRL's, below)
REFERENCE_NOTES = {  # Reference.source of a published reference other than Spinning Up's -> what the summary says of it
    "CleanRL ppo_atari.py": "Atari: the reference is CleanRL's ppo_atari.py learning curve, read off its published "
    "figure every 100k steps, and its published final return at 10M (benchmarks/reference/cleanrl/"
    "README.md); up to 9.9M its +- is half the height of the figure's shaded band.",
    "CleanRL ppo.py": "Classic control: the reference is CleanRL's published final return at 500k steps (one "
    "number, not a curve: benchmarks/reference/cleanrl/README.md), compared at that step only.",
}
ON_POLICY = ("vpg", "trpo", "ppo")
MILESTONES = (500_000, 1_000_000, 3_000_000)
SMOOTH = 11
COLORS = {
    "vpg": "tab:blue",
    "trpo": "tab:orange",
    "ppo": "tab:green",
    "ddpg": "tab:red",
    "td3": "tab:purple",
    "sac": "tab:brown",
}
# Config fields that say where a run went, how it ran or how it was logged, not what was trained:
# runs that differ only in these (and the seed) are seeds of one setting. Every other field, the
# budget included (PPO anneals its learning rate over total_steps), separates settings.
RUN_ONLY_FIELDS = frozenset(
    {
        "seed",
        "run_dir",
        "resume",
        "device",
        "env_threads",
        "torch_threads",
        "progress",
        "checkpoint_every",
        "capture_video",
        "video_every",
        "video_size",
        "wandb",
        "wandb_project",
        "wandb_group",
        "wandb_name",
        "wandb_tags",
        "wandb_job_type",
    }
)


def metric_for(algo: str) -> str:
    return "charts/episodic_return" if algo in ON_POLICY else "charts/test_return"


def smooth(y: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    """Centred moving average that shrinks at the ends (Spinning Up's plot.py smoothing: the sum over
    the window divided by the number of points under it). y [T] -> [T]."""
    y = np.asarray(y, dtype=float)
    if window <= 1 or len(y) == 0:
        return y
    half = window // 2
    idx = np.arange(len(y))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, len(y))
    csum = np.concatenate([[0.0], np.cumsum(y)])
    return (csum[hi] - csum[lo]) / (hi - lo)


# ---------------------------------------------------------------------- runs
@dataclass
class Run:
    """One run directory: its config and progress.csv as columns."""

    path: Path
    algo: str
    env: str
    seed: int
    columns: dict[str, np.ndarray]  # name -> [rows] (NaN where a row has no value)
    config: dict = dataclasses.field(default_factory=dict)  # config.json without algo

    def setting(self) -> dict:
        """The config fields that define what was trained (RUN_ONLY_FIELDS left out)."""
        return {k: v for k, v in self.config.items() if k not in RUN_ONLY_FIELDS}

    def series(self, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps [T], values [T]) of the protocol metric, rows without a value dropped."""
        name = metric or metric_for(self.algo)
        if name not in self.columns:
            return np.zeros(0), np.zeros(0)
        steps, y = self.columns["global_step"], self.columns[name]
        keep = ~np.isnan(y)
        return steps[keep], y[keep]

    @property
    def steps(self) -> int:
        s = self.columns.get("global_step")
        return int(s[-1]) if s is not None and len(s) else 0

    @property
    def wall_time(self) -> float:
        """Seconds of training (time/elapsed); for runs logged without it, the sum of iteration
        times implied by charts/SPS (which leaves out evaluation and checkpoint time)."""
        t = self.columns.get("time/elapsed")
        if t is not None and np.isfinite(t).any():
            return float(np.nanmax(t))
        sps, steps = self.columns.get("charts/SPS"), self.columns.get("global_step")
        if sps is None or len(steps) == 0:
            return math.nan
        dt = np.diff(steps, prepend=0.0) / sps
        return float(np.nansum(dt)) if np.isfinite(dt).any() else math.nan

    @property
    def sps(self) -> float:
        return self.steps / self.wall_time if self.wall_time > 0 else math.nan


def read_progress(path: Path) -> dict[str, np.ndarray]:
    """progress.csv -> column name -> values [rows] (NaN where a row has no value). ConfigError naming
    the file when it is not a UTF-8 CSV of numbers."""
    try:
        with path.open(encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        if reader.fieldnames and "global_step" not in reader.fieldnames:
            raise ConfigError(f"{path} has no global_step column")
        if not rows:
            return {"global_step": np.zeros(0)}
        out = {}
        for name in rows[0]:
            out[name] = np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in rows])
    except (UnicodeDecodeError, csv.Error, ValueError, TypeError) as e:
        raise ConfigError(f"{path} is not a readable progress file ({type(e).__name__})") from None
    if "global_step" not in out:
        raise ConfigError(f"{path} has no global_step column")
    return out


def load_run(path: Path) -> Run:
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path / 'config.json'} is not readable JSON ({type(e).__name__})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path / 'config.json'} is not a JSON object")
    algo = cfg.pop("algo", "?")
    try:
        seed = int(cfg.get("seed", 0))
    except (TypeError, ValueError):
        raise ConfigError(f"{path / 'config.json'}: seed {cfg.get('seed')!r} is not an integer") from None
    return Run(path, str(algo), str(cfg.get("env", "?")), seed, read_progress(path / "progress.csv"), cfg)


def _is_run_dir(p: Path) -> bool:
    return (p / "progress.csv").is_file() and (p / "config.json").is_file()


def find_run_dirs(paths: Iterable[Path]) -> list[Path]:
    """Run directories among `paths` and below them, at any depth (runs/hopper/lr-3e-4/s0): a
    directory with config.json and progress.csv. The walk does not enter a run directory (its wandb/
    and videos/ hold no runs) nor hidden directories."""
    found: list[Path] = []
    for p in map(Path, paths):
        if _is_run_dir(p):
            found.append(p)
            continue
        for root, dirs, _ in os.walk(p):
            dirs.sort()
            keep = []
            for d in dirs:
                if d.startswith("."):
                    continue
                if _is_run_dir(Path(root) / d):
                    found.append(Path(root) / d)
                else:
                    keep.append(d)
            dirs[:] = keep
    return list(dict.fromkeys(found))  # a run named twice (runs/ and runs/a) once


def load_runs(paths: Iterable[Path]) -> list[Run]:
    """Every run dir under `paths`; one that cannot be read is skipped with one line saying why."""
    runs = []
    for p in find_run_dirs(paths):
        try:
            runs.append(load_run(p))
        except ConfigError as e:
            print(f"rlmeta: skipping {p}: {e}", file=sys.stderr)
    return runs


# ---------------------------------------------------------------------- curves over seeds
@dataclass
class Curve:
    """Seed mean / std of smoothed curves of one (algo, env) on the steps all seeds reached."""

    algo: str
    env: str
    steps: np.ndarray  # [T]
    mean: np.ndarray  # [T]
    std: np.ndarray  # [T]
    n_seeds: int
    wall_time: float  # mean over seeds, seconds
    sps: float  # mean over seeds
    label: str = ""  # what tells it apart from other curves of its (algo, env); default the algo
    paths: tuple[Path, ...] = ()  # its run directories

    def __post_init__(self):
        self.label = self.label or self.algo

    def at(self, step: int) -> tuple[float, float] | None:
        """(mean, std) at the last logged point <= step, if the runs got within 1% of step."""
        if len(self.steps) == 0 or self.steps[-1] < 0.99 * step:
            return None
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return float(self.mean[i]), float(self.std[i])


def seed_curve(runs: Sequence[Run], metric: str | None = None, window: int = SMOOTH) -> Curve:
    """Truncate each seed to the steps every seed reached, smooth it, then mean and population std over
    seeds on the steps any seed logged. A seed that logged nothing at a step (an iteration in which no
    episode ended) holds its last smoothed value there; seeds that logged the same steps (the common
    case: every epoch, every evaluation) are simply averaged point by point."""
    series = [r.series(metric) for r in runs]
    if min(len(s) for s, _ in series) == 0:
        steps, ys = np.zeros(0), np.zeros((len(runs), 0))
    else:
        end = min(s[-1] for s, _ in series)
        cut = [(s[s <= end], y[s <= end]) for s, y in series]
        start = max(s[0] for s, _ in cut)
        steps = np.unique(np.concatenate([s for s, _ in cut]))
        steps = steps[steps >= start]
        # [S, T]: each seed's smoothed value at its last logged step <= each step of the grid
        ys = np.stack([smooth(y, window)[np.searchsorted(s, steps, side="right") - 1] for s, y in cut])
    return Curve(
        runs[0].algo,
        runs[0].env,
        steps,
        ys.mean(0),
        ys.std(0),
        len(runs),
        _finite_mean([r.wall_time for r in runs]),
        _finite_mean([r.sps for r in runs]),
        paths=tuple(r.path for r in runs),
    )


def _finite_mean(xs: Sequence[float]) -> float:
    xs = [x for x in xs if math.isfinite(x)]
    return float(np.mean(xs)) if xs else math.nan


def group_runs(runs: Sequence[Run]) -> list[list[Run]]:
    """Runs that are seeds of one setting: same algo, env and config apart from RUN_ONLY_FIELDS. Runs
    of one setting with the same seed are not independent seeds (a rerun, a copy): each one past the
    first goes to another group, so no group holds a seed twice."""
    by_setting: dict[tuple[str, str, str], list[Run]] = {}
    # in path order (by components, so runs/lr/s0 comes before runs/lr-rerun): of two runs that
    # repeat a seed, the one beside the other seeds joins them
    for r in sorted(runs, key=lambda r: r.path.parts):
        key = (r.algo, r.env, json.dumps(r.setting(), sort_keys=True, default=str))
        by_setting.setdefault(key, []).append(r)
    groups = []
    for _, members in sorted(by_setting.items(), key=lambda kv: kv[0]):
        split: list[list[Run]] = []
        for r in members:
            home = next((g for g in split if r.seed not in {x.seed for x in g}), None)
            if home is None:
                split.append([r])
            else:
                home.append(r)
        groups += split
    return groups


def _labels(groups: list[list[Run]]) -> list[str]:
    """A legend/table label per group, unique within its (algo, env): the algo alone when it has one
    group there; else the algo with the config values that differ between its groups (`ppo
    actor_lr=0.001`), and the run directories where those do not tell the groups apart."""
    labels = [g[0].algo for g in groups]
    by_task: dict[tuple[str, str], list[int]] = {}
    for i, g in enumerate(groups):
        by_task.setdefault((g[0].algo, g[0].env), []).append(i)
    for idx in by_task.values():
        if len(idx) < 2:
            continue
        settings = [groups[i][0].setting() for i in idx]
        keys = sorted({k for st in settings for k in st if any(st.get(k) != o.get(k) for o in settings)})
        for i, st in zip(idx, settings):
            diff = " ".join(f"{k}={_short(st.get(k))}" for k in keys)
            labels[i] = f"{groups[i][0].algo} {diff}".strip()
        seen: dict[str, int] = {}
        for i in idx:
            seen[labels[i]] = seen.get(labels[i], 0) + 1
        for i in idx:
            if seen[labels[i]] > 1:  # same setting, kept apart for a repeated seed: name the runs
                names = [r.path.name for r in groups[i]]
                labels[i] += f" [{names[0]}{f' +{len(names) - 1}' if len(names) > 1 else ''}]"
    return labels


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(map(_short, v))
    return str(v)


def group_curves(
    runs: Sequence[Run], metric: str | None = None, window: int = SMOOTH
) -> dict[tuple[str, str, str], Curve]:
    """(algo, env, label) -> the seed curve of each setting (see group_runs)."""
    groups = group_runs(runs)
    curves = {}
    for g, label in zip(groups, _labels(groups)):
        c = seed_curve(g, metric, window)
        c.label = label
        curves[(c.algo, c.env, label)] = c
    return dict(sorted(curves.items()))


# ---------------------------------------------------------------------- reference
@dataclass
class Reference:
    steps: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    source: str  # "PyTorch" or "TF1"

    def at(self, step: int) -> tuple[float, float]:
        if len(self.steps) == 1 and step != self.steps[0]:  # a published number, not a curve: that step only
            return math.nan, math.nan
        return float(np.interp(step, self.steps, self.mean)), float(np.interp(step, self.steps, self.std))

    @property
    def spinning_up(self) -> bool:
        return self.source in SPINNING_UP_SOURCES

    @property
    def is_point(self) -> bool:
        """One published number (a final return), not a curve."""
        return len(self.steps) == 1


def reference(algo: str, env: str) -> Reference | None:
    """Spinning Up's curve for algo on env (TRPO: the TF1 curve; Spinning Up has no PyTorch TRPO), from
    the framework's HalfCheetah/Hopper file or its `_more` file (Walker2d, Swimmer, Ant)."""
    source, stem = ("TF1", "tf1_v3_curves") if algo == "trpo" else ("PyTorch", "pytorch_v3_curves")
    base_env = env.split("-")[0]
    rows = []
    for path in (REFERENCE_DIR / f"{stem}.csv", REFERENCE_DIR / f"{stem}_more.csv"):
        if not path.exists():
            continue
        with path.open() as f:
            for r in csv.DictReader(f):
                if r["env"] == base_env and r["algo"].lower() == algo:
                    rows.append((float(r["step"]), float(r["mean"]), float(r["std"])))
        if rows:
            break
    if not rows:
        return cleanrl_reference(algo, env)
    a = np.array(rows)
    return Reference(a[:, 0], a[:, 1], a[:, 2], source)


def cleanrl_reference(algo: str, env: str) -> Reference | None:
    """CleanRL's published return of `algo` on a classic-control or Atari task (reference/cleanrl/README.md):
    the learning curve read off its figure where one is here (`*_curve.csv`), else its published final
    return (`classic_control.csv`, one point)."""
    for path in [*sorted(CLEANRL_DIR.glob("*_curve.csv")), CLEANRL_DIR / "classic_control.csv"]:
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if r["env"] == env and r["algo"] == algo]
        if rows:
            a = np.array([[float(r["step"]), float(r["mean"]), float(r["std"])] for r in rows])
            return Reference(a[:, 0], a[:, 1], a[:, 2], rows[0]["source"])
    return None


# ---------------------------------------------------------------------- summary table
def fmt_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    m = round(seconds / 60)
    return f"{m // 60}h{m % 60:02d}" if m >= 60 else f"{seconds / 60:.1f} min"


def summary_rows(curves: dict[tuple[str, str, str], Curve], milestones: Sequence[int] = MILESTONES) -> list[dict]:
    """One row per (curve, milestone reached); the last point too when no milestone is reached. The
    row's algo is the curve's label (the algo, plus what tells settings of one algo apart)."""
    rows = []
    for c in curves.values():
        algo, env = c.label, c.env
        ref = reference(c.algo, env)
        points = [m for m in milestones if c.at(m) is not None]
        if not points and len(c.steps):
            points = [int(c.steps[-1])]
        for m in points:
            mean, std = c.at(m) or (math.nan, math.nan)
            rmean, rstd = ref.at(m) if ref is not None else (math.nan, math.nan)
            rows.append(
                {
                    "algo": algo,
                    "env": env,
                    "step": m,
                    "mean": mean,
                    "std": std,
                    "seeds": c.n_seeds,
                    "ref_mean": rmean,
                    "ref_std": rstd,
                    "ref_source": ref.source if ref else "",
                    "ratio": mean / rmean if ref is not None and rmean > 0 else math.nan,
                    "wall_time": c.wall_time,
                    "sps": c.sps,
                }
            )
    return rows


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """rows (dicts) as CSV with `columns` as the header; a key a row lacks is an empty cell."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c, "") for c in columns])


def machine_line() -> str:
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}"


def summary_markdown(
    curves: dict[tuple[str, str, str], Curve],
    title: str = "Benchmark summary",
    command: str | None = None,
    plots: Sequence[str] = (),
    milestones: Sequence[int] = MILESTONES,
) -> str:
    lines = [f"# {title}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [
        f"Machine: {machine_line()}",
        "",
        "Metric: Spinning Up's protocol (on-policy: mean training-episode return per 4000-step epoch; "
        "off-policy: 10 deterministic test episodes every 10k steps), each seed smoothed over 11 points, "
        "then mean +- std over seeds. Reference: Spinning Up's published curves (10 seeds, v3 tasks; "
        "TRPO: TF1), interpolated at the same step. Ratio = rlmeta mean / reference mean (blank when "
        "the reference is not positive). At the last step of a run the window reaches back only (6 points), "
        "so a still-rising curve reads lower there than the reference, whose window reaches both ways "
        "(rows at steps 5 or more points before a run's end have two-sided windows on both sides). "
        "Wall time and SPS: mean per run.",
        "",
    ]
    rows = summary_rows(curves, milestones)
    sources = {r["ref_source"] for r in rows if r["ref_source"]}
    if sources - set(SPINNING_UP_SOURCES):
        lines += [line for src, note in REFERENCE_NOTES.items() if src in sources for line in (note, "")]
        head = "reference"
    else:
        head = "Spinning Up"
    lines += [
        f"| algo | env | step | rlmeta (mean +- std) | seeds | {head} | ratio | wall time | SPS |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ref = f"{r['ref_mean']:.0f} +- {r['ref_std']:.0f} ({r['ref_source']})" if math.isfinite(r["ref_mean"]) else "-"
        ratio = f"{r['ratio']:.2f}" if math.isfinite(r["ratio"]) else ""
        sps = f"{r['sps']:.0f}" if math.isfinite(r["sps"]) else "-"
        lines.append(
            f"| {r['algo']} | {r['env']} | {r['step']:,} | {r['mean']:.0f} +- {r['std']:.0f} | {r['seeds']} "
            f"| {ref} | {ratio} | {fmt_duration(r['wall_time'])} | {sps} |"
        )
    lines.append("")
    for p in plots:
        lines += [f"![{Path(p).stem}]({Path(p).name})", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------- plots
def plot_env(curves: Sequence[Curve], path: Path, with_reference: bool = True, title: str | None = None) -> Path:
    """Spinning Up style: seed mean with a shaded +-std band per setting, the reference dashed in the
    colour of the algorithm's first curve (over the steps the runs cover). A reference is drawn and
    listed only for an algorithm that has a curve with data here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    drawn = [c for c in curves if len(c.steps)]
    x_max = max((float(c.steps[-1]) for c in drawn), default=1.0)
    algo_color: dict[str, str] = {}
    for c in drawn:
        # the algorithm's colour for its first setting; matplotlib's cycle for further ones
        color = COLORS.get(c.algo) if c.algo not in algo_color else None
        (line,) = ax.plot(
            c.steps,
            c.mean,
            color=color,
            lw=1.8,
            label=f"{c.label} (rlmeta, {c.n_seeds} seed{'s' if c.n_seeds > 1 else ''})",
        )
        algo_color.setdefault(c.algo, line.get_color())
        ax.fill_between(c.steps, c.mean - c.std, c.mean + c.std, color=line.get_color(), alpha=0.2, lw=0)
    drawn_refs: list[Reference] = []
    for algo, color in algo_color.items():
        ref = reference(algo, drawn[0].env) if with_reference else None
        if ref is None or (ref.is_point and ref.steps[0] > x_max * 1.05):
            continue  # (a published 10M figure next to a 1M run would squash the curves)
        drawn_refs.append(ref)
        if ref.is_point:  # one published number: a point with its std
            ax.errorbar(
                ref.steps,
                ref.mean,
                yerr=ref.std,
                color=color,
                marker="D",
                ms=6,
                capsize=4,
                ls="none",
                label=f"{algo} ({ref.source}, published)",
            )
        else:
            keep = ref.steps <= x_max * 1.02
            ax.plot(
                ref.steps[keep],
                ref.mean[keep],
                color=color,
                lw=1.4,
                ls="--",
                label=f"{algo} ({'Spinning Up ' if ref.spinning_up else ''}{ref.source})",
            )
    env = curves[0].env if curves else ""
    versus = ""
    if drawn_refs:
        versus = (
            " vs Spinning Up (dashed)"
            if all(r.spinning_up for r in drawn_refs)
            else " vs published (points)"
            if all(r.is_point for r in drawn_refs)
            else " vs published (dashed)"
        )
    ax.set_title(title or f"{env}: rlmeta (solid, mean +- std){versus}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("average episode return")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=8, loc="upper left", frameon=False)
    else:
        ax.text(0.5, 0.5, "no run logged the plotted metric yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_all(curves: dict[tuple[str, str, str], Curve], out_dir: Path, with_reference: bool = True) -> list[Path]:
    """One `<env>.png` per environment in out_dir."""
    envs = sorted({c.env for c in curves.values()})
    return [
        plot_env([c for c in curves.values() if c.env == env], out_dir / f"{path_name(env)}.png", with_reference)
        for env in envs
    ]
