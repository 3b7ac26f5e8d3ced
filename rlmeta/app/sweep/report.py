"""A sweep's outputs in its folder: trials.md, trials.csv, importance.png (PED-ANOVA importances
and parallel coordinates) and best.yaml, a preset for `rlmeta train ALGO --preset`."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from pathlib import Path
from typing import Any

from rlmeta.app.sweep.executors import TrialRecord
from rlmeta.app.sweep.objective import SweepSpec
from rlmeta.app.sweep.space import Param, Space


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def write_trials_md(
    path: Path, spec: SweepSpec, space: Space, records: list[TrialRecord], command: str, executor: str
) -> None:
    names = list(space.params)
    best = best_record(records)
    lines = [
        f"# Sweep `{spec.name}`: {spec.algo} on {spec.env}",
        "",
        f"- command: `{command}`",
        f"- executor: {executor}; value = mean of the last {spec.window} logged `{spec.metric}`",
        f"- budget per trial: {spec.total_steps or 'preset default'} env steps; seed {spec.seed}",
        f"- fixed: {space.fixed or '{}'}",
        f"- best: trial {best.number} ({best.value:.4g})" if best else "- best: none completed",
        "",
        "| trial | state | " + " | ".join(names) + " | final return | wall s | note |",
        "|---|---|" + "---|" * len(names) + "---|---|---|",
    ]
    for r in records:
        vals = [_fmt(r.params.get(n)) for n in names]
        lines.append(
            f"| {r.number} | {r.state} | "
            + " | ".join(vals)
            + f" | {_fmt(r.value)} | {'' if r.wall_s is None else f'{r.wall_s:.1f}'} | {r.note} |"
        )
    path.write_text("\n".join(lines) + "\n")


def write_trials_csv(path: Path, space: Space, records: list[TrialRecord]) -> None:
    """The numbers of trials.md, one row per trial: trial, state, value, wall_s, best (1 for the best
    trial), note, then one column per tuned parameter (as Optuna stores it: categorical choices
    that are lists as JSON text)."""
    import csv

    names = list(space.params)
    best = best_record(records)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trial", "state", "value", "wall_s", "best", "note", *names])
        for r in records:
            w.writerow(
                [
                    r.number,
                    r.state,
                    "" if r.value is None else repr(float(r.value)),
                    "" if r.wall_s is None else f"{r.wall_s:.3f}",
                    int(best is not None and r is best),
                    r.note,
                    *["" if r.params.get(n) is None else r.params[n] for n in names],
                ]
            )


def best_record(records: list[TrialRecord]) -> TrialRecord | None:
    done = [r for r in records if r.state == "COMPLETE" and r.value is not None]
    return max(done, key=lambda r: r.value or 0.0) if done else None  # (value is not None in `done`)


def write_best_yaml(path: Path, spec: SweepSpec, space: Space, best: TrialRecord) -> None:
    """A preset file for `rlmeta train ALGO --preset FILE`: the fixed values plus the best trial's params."""
    import yaml

    from rlmeta.app.registry import get_agent

    fields = {f.name for f in dataclasses.fields(get_agent(spec.algo).Config)}
    data: dict[str, Any] = {"algo": spec.algo}
    if "preset" in space.fixed and "preset" in fields:
        data["preset"] = space.fixed["preset"]
    data["env"] = spec.env
    data.update({k: list(v) if isinstance(v, tuple) else v for k, v in space.fixed.items() if k != "preset"})
    for k, v in space.decode(best.params).items():
        data[k] = list(v) if isinstance(v, tuple) else v
    head = (
        f"# best of sweep {spec.name}: trial {best.number}, {spec.metric} {best.value:.4g} "
        f"after {spec.total_steps or 'default'} steps\n# rlmeta train {spec.algo} --preset {path}\n"
    )
    path.write_text(head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


AXIS_INCHES = 1.35  # parallel coordinates: width per axis, room for a tick label of LABEL_CHARS
LABEL_CHARS = 16  # at fontsize 7, 16 characters take about 0.85 inch


def _wrap(text: str, width: int = LABEL_CHARS) -> str:
    """Break a label into lines of <= width characters after '_', '/' or ' ' (field and metric
    names have no spaces for textwrap to break at); a longer unbroken piece keeps its own line."""
    lines = [""]
    for piece in re.split(r"(?<=[_/ ])", text):
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line.strip() for line in lines)


def _range_text(p: Param) -> str:
    if p.kind == "categorical":
        return " | ".join(_fmt(list(c) if isinstance(c, tuple) else c).replace(" ", "") for c in p.choices)
    return f"[{p.low:.3g}, {p.high:.3g}]" + (" log" if p.log else "")


def importance_figure(space: Space, records: list[TrialRecord], metric: str):
    """Left: parameter importances (Optuna's PED-ANOVA); right: parallel coordinates of complete
    trials, one axis per parameter and one for the metric. The figure widens with the number of axes
    and tick labels are wrapped, so neighbouring labels do not overlap. -> matplotlib Figure"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import optuna

    done = [r for r in records if r.state == "COMPLETE" and r.value is not None]
    names = list(space.params)
    coords_width = max(7.5, AXIS_INCHES * (len(names) + 1))
    fig, (ax0, ax1) = plt.subplots(
        1, 2, figsize=(4.5 + coords_width, 4.8), gridspec_kw={"width_ratios": [4.5, coords_width]}
    )
    importances: dict[str, float] = {}
    if len(done) >= 2:
        study = optuna.create_study(direction="maximize")
        dists = {n: p.distribution() for n, p in space.params.items()}
        for r in done:
            study.add_trial(optuna.trial.create_trial(params=r.params, distributions=dists, value=r.value))
        try:
            # Optuna's default evaluator (PED-ANOVA) needs no scikit-learn, unlike fANOVA; it warns
            # when few trials make its quantiles coincide (importances then come out equal)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importances = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial had the same params
            importances = {}
    if importances:
        keys = list(importances)[::-1]
        ax0.barh(keys, [importances[k] for k in keys], color="tab:blue")
        ax0.set_xlabel("importance (Optuna PED-ANOVA)")
    else:
        ax0.text(0.5, 0.5, "needs >= 2 complete trials\nwith differing params", ha="center", va="center")
        ax0.set_axis_off()
    ax0.set_title("parameter importance")
    if done:
        # each axis scaled to [0, 1] over its range (log10 for log params, index for categoricals)
        def coord(p: Param, v: Any) -> float:
            if p.kind == "categorical":
                return p.encoded.index(v) / max(len(p.choices) - 1, 1)
            lo, hi, x = (math.log10(p.low), math.log10(p.high), math.log10(v)) if p.log else (p.low, p.high, v)
            return (x - lo) / (hi - lo)

        vals = np.array([r.value for r in done])
        vmin, vmax = vals.min(), vals.max()
        cmap = plt.get_cmap("viridis")
        for r in sorted(done, key=lambda r: r.value or 0.0):  # (value is not None in `done`)
            ys = [coord(space.params[n], r.params[n]) for n in names] + [
                (r.value - vmin) / (vmax - vmin) if vmax > vmin else 0.5
            ]
            c = cmap((r.value - vmin) / (vmax - vmin) if vmax > vmin else 0.5)
            ax1.plot(range(len(ys)), ys, "-o", color=c, alpha=0.8, ms=3)
        labels = [f"{_wrap(n)}\n{_wrap(_range_text(space.params[n]))}" for n in names]
        labels.append(f"{_wrap(metric)}\n{_wrap(f'[{vmin:.4g}, {vmax:.4g}]')}")
        ax1.set_xticks(range(len(labels)), labels, fontsize=7)
        ax1.set_yticks([0, 1], ["low", "high"])
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
        fig.colorbar(sm, ax=ax1, label=metric)
    ax1.set_title(f"parallel coordinates ({len(done)} complete trials)")
    fig.tight_layout()
    return fig


def write_importance_png(path: Path, space: Space, records: list[TrialRecord], metric: str) -> None:
    import matplotlib.pyplot as plt

    fig = importance_figure(space, records, metric)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(
    out: Path, spec: SweepSpec, space: Space, records: list[TrialRecord], command: str, executor: str
) -> TrialRecord | None:
    write_trials_md(out / "trials.md", spec, space, records, command, executor)
    write_trials_csv(out / "trials.csv", space, records)
    write_importance_png(out / "importance.png", space, records, spec.metric)
    best = best_record(records)
    if best is not None:
        write_best_yaml(out / "best.yaml", spec, space, best)
    return best
