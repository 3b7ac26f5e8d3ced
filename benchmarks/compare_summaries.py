"""Did a change alter learning? Compare two benchmark summaries (summary.md of `rlmeta bench`) row by
row: the same (algo, env, step), each side's mean +- std over its seeds, the difference and whether it
lies within the two runs' seed spread (|new - old| <= std_old + std_new).

Run:
    .venv/bin/python benchmarks/compare_summaries.py benchmarks/results/onpolicy-1m/summary.md \\
        runs/bench-1m-fast/summary.md --out benchmarks/results/onpolicy-1m-fast/vs_before.md
    (add `--plot vs_before.png` to draw both sides' curves from the summary.csv beside each summary.md)
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path
from typing import Any

ROW = re.compile(r"^\| (\w+) \| ([\w.-]+) \| ([\d,]+) \| (-?[\d.]+) \+- ([\d.]+) \| (\d+) \|")


def read_summary(path: Path) -> dict[tuple[str, str, int], tuple[float, float, int]]:
    """summary.md -> {(algo, env, step): (mean, std, seeds)} from its results table."""
    rows = {}
    for line in path.read_text().splitlines():
        m = ROW.match(line)
        if m:
            algo, env, step, mean, std, seeds = m.groups()
            rows[(algo, env, int(step.replace(",", "")))] = (float(mean), float(std), int(seeds))
    if not rows:
        raise SystemExit(f"compare_summaries: no result rows in {path} (is it a `rlmeta bench` summary.md?)")
    return rows


def compare(old: Path, new: Path, old_label: str, new_label: str) -> list[str]:
    a, b = read_summary(old), read_summary(new)
    keys = sorted(a.keys() & b.keys())
    if not keys:
        raise SystemExit("compare_summaries: the two summaries share no (algo, env, step) row")
    lines = [
        f"| algo | env | step | {old_label} | {new_label} | difference | within seed spread |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    inside = 0
    for k in keys:
        (m0, s0, n0), (m1, s1, n1) = a[k], b[k]
        ok = abs(m1 - m0) <= s0 + s1
        inside += ok
        lines.append(
            f"| {k[0]} | {k[1]} | {k[2]:,} | {m0:.0f} +- {s0:.0f} ({n0}) | {m1:.0f} +- {s1:.0f} ({n1}) | "
            f"{m1 - m0:+.0f} | {'yes' if ok else '**no**'} |"
        )
    lines += [
        "",
        f"{inside} of {len(keys)} rows within the seed spread (|difference| <= std before + std after; "
        "seeds in parentheses).",
    ]
    return lines


def read_curves(path: Path) -> dict[tuple[str, str], list[tuple[int, float, float]]]:
    """summary.csv (written beside summary.md) -> {(algo, env): [(step, mean, std), ...] by step}."""
    curves: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            curves.setdefault((row["algo"], row["env"]), []).append(
                (int(row["step"]), float(row["mean"]), float(row["std"]))
            )
    return {k: sorted(v) for k, v in curves.items()}


def plot(old_csv: Path, new_csv: Path, old_label: str, new_label: str, out: Path) -> Any:
    """Both sides' mean +- std over seeds against steps, one panel per (algo, env) they share; -> Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = read_curves(old_csv), read_curves(new_csv)
    keys = sorted(a.keys() & b.keys())
    if not keys:
        raise SystemExit(f"compare_summaries: {old_csv} and {new_csv} share no (algo, env) curve")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, rows in ((old_label, a[key]), (new_label, b[key])):
            steps, mean, std = (list(c) for c in zip(*rows))
            ax.plot(steps, mean, marker="o", ms=3, label=label)
            ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
        ax.set(title=f"{key[0]} {key[1]}", xlabel="env steps", ylabel="return (mean +- std over seeds)")
        ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return fig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old", type=Path, help="summary.md before the change")
    p.add_argument("new", type=Path, help="summary.md after the change")
    p.add_argument("--old-label", default="before")
    p.add_argument("--new-label", default="after")
    p.add_argument("--title", default="Learning before and after a change")
    p.add_argument("--note", default="", help="text under the title (what changed, commands)")
    p.add_argument("--out", type=Path, help="write markdown here (default: print)")
    p.add_argument(
        "--plot",
        type=Path,
        metavar="PNG",
        help="also draw both sides' curves (from the summary.csv beside each summary.md) into this PNG",
    )
    args = p.parse_args()
    lines = [f"# {args.title}", ""] + ([args.note, ""] if args.note else [])
    lines += compare(args.old, args.new, args.old_label, args.new_label)
    if args.plot:
        plot(args.old.with_suffix(".csv"), args.new.with_suffix(".csv"), args.old_label, args.new_label, args.plot)
        lines += ["", f"![{args.old_label} vs {args.new_label}]({args.plot.name})"]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
