"""Benchmark summaries against a published reference curve: the mean +- std over seeds of each `rlmeta bench`
summary.csv beside the reference at the same steps (report.reference: Spinning Up's curves, CleanRL's curve
read off its figure, or a published final return), as markdown + CSV + PNG.

Run:
    .venv/bin/python benchmarks/vs_reference.py benchmarks/results/atari-1m/summary.csv=float32 \\
        benchmarks/results/atari-1m-bf16/summary.csv="bfloat16 encoder" \\
        --reference ppo BreakoutNoFrameskip-v4 --out benchmarks/results/atari-1m/vs_cleanrl
    -> vs_cleanrl.md, vs_cleanrl.csv (one row per summary and step) and vs_cleanrl.png
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.compare_summaries import read_curves
from rlmeta.benchmarks.report import Reference, reference, write_csv

COLUMNS = ["label", "algo", "env", "step", "mean", "std", "ref_mean", "ref_std", "ref_source", "ratio"]


def rows_vs(summaries: list[tuple[Path, str]], ref: Reference) -> list[dict]:
    """One row per (summary, curve, step): its mean +- std over seeds and the reference at that step.
    Ratio = mean / reference mean (NaN where the reference is not positive or has no value there)."""
    rows = []
    for path, label in summaries:
        for (algo, env), points in read_curves(path).items():
            for step, mean, std in points:
                rmean, rstd = ref.at(step)
                ratio = mean / rmean if math.isfinite(rmean) and rmean > 0 else math.nan
                rows.append(
                    dict(label=label, algo=algo, env=env, step=step, mean=mean, std=std, ref_mean=rmean)
                    | dict(ref_std=rstd, ref_source=ref.source, ratio=ratio)
                )
    return rows


def table(rows: list[dict], labels: list[str]) -> list[str]:
    """Markdown: one line per step, a column per summary (`mean +- std (ratio)`), the reference last."""
    by_step: dict[int, dict[str, dict]] = {}
    for r in rows:
        by_step.setdefault(r["step"], {})[r["label"]] = r
    lines = [
        "| step | " + " | ".join(f"{lb} (ratio)" for lb in labels) + " | reference |",
        "|---:|" + "---:|" * (len(labels) + 1),
    ]
    for step in sorted(by_step):
        cells = []
        for lb in labels:
            r = by_step[step].get(lb)
            ratio = f" ({r['ratio']:.2f})" if r and math.isfinite(r["ratio"]) else ""
            cells.append(f"{r['mean']:.0f} +- {r['std']:.0f}{ratio}" if r else "-")
        any_row = next(iter(by_step[step].values()))
        ref = f"{any_row['ref_mean']:.1f} +- {any_row['ref_std']:.1f}" if math.isfinite(any_row["ref_mean"]) else "-"
        lines.append(f"| {step:,} | " + " | ".join(cells) + f" | {ref} |")
    return lines


def plot(rows: list[dict], labels: list[str], ref: Reference, out: Path, title: str) -> Any:
    """Each summary's mean +- std against steps, the reference dashed (its band shaded) up to the last step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    x_max = max(r["step"] for r in rows)
    for lb in labels:
        mine = sorted((r for r in rows if r["label"] == lb), key=lambda r: r["step"])
        steps, mean, std = ([r[k] for r in mine] for k in ("step", "mean", "std"))
        line = ax.plot(steps, mean, marker="o", ms=3, label=f"{lb} ({mine[0]['env']})")[0]
        lo, hi = [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)]
        ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    keep = ref.steps <= x_max * 1.02
    ax.plot(ref.steps[keep], ref.mean[keep], "k--", lw=1.4, label=ref.source)
    ax.fill_between(
        ref.steps[keep], (ref.mean - ref.std)[keep], (ref.mean + ref.std)[keep], color="k", alpha=0.08, lw=0
    )
    ax.set(title=title, xlabel="environment steps", ylabel="episode return (mean +- std over seeds)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return fig


def parse_summary(arg: str) -> tuple[Path, str]:
    """`path/summary.csv=label` (label defaults to the folder's name)."""
    path, _, label = arg.partition("=")
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"vs_reference: {p} is not a file (a summary.csv written by `rlmeta bench`)")
    return p, label or p.parent.name


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("summaries", nargs="+", help="summary.csv files, each optionally =LABEL (default: its folder)")
    p.add_argument(
        "--reference",
        nargs=2,
        metavar=("ALGO", "ENV"),
        required=True,
        help="the published curve to compare against (e.g. ppo BreakoutNoFrameskip-v4)",
    )
    p.add_argument("--out", type=Path, required=True, help="output prefix: writes OUT.md, OUT.csv and OUT.png")
    p.add_argument("--title", default="rlmeta against the published curve")
    p.add_argument("--note", default="", help="text under the title (settings, what differs from the reference)")
    args = p.parse_args(argv)
    summaries = [parse_summary(s) for s in args.summaries]
    ref = reference(*args.reference)
    if ref is None:
        raise SystemExit(f"vs_reference: no published reference for {' '.join(args.reference)}")
    labels = [lb for _, lb in summaries]
    rows = rows_vs(summaries, ref)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(args.out.with_suffix(".csv"), rows, COLUMNS)
    plot(rows, labels, ref, args.out.with_suffix(".png"), args.title)
    shown = list(sys.argv[1:] if argv is None else argv)
    if "--note" in shown:  # the note is the paragraph under the title: the command names it only
        shown[shown.index("--note") + 1] = "NOTE"
    command = shlex.join(["python", "benchmarks/vs_reference.py", *shown])
    lines = [f"# {args.title}", ""] + ([args.note, ""] if args.note else [])
    lines += [f"Command: `{command}`" + (" (NOTE: the paragraph above)" if args.note else ""), ""]
    lines += [
        f"Reference: {ref.source} ({' '.join(args.reference)}). Cells: mean +- std over seeds, each summary "
        f"as written by `rlmeta bench` (11-point smoothing); ratio = mean / reference. "
        f"Table: [{args.out.with_suffix('.csv').name}]({args.out.with_suffix('.csv').name}).",
        "",
        *table(rows, labels),
        "",
        f"![{args.title}]({args.out.with_suffix('.png').name})",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"vs_reference: wrote {args.out}.md, .csv and .png", file=sys.stderr)


if __name__ == "__main__":
    main()
