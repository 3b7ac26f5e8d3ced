"""Several seeds in one process (`rlmeta train ALGO --seeds K`) against K separate runs, on this machine.

Every mode trains the same K seeds of one off-policy agent (default: SAC, Spinning Up's settings, on
Hopper-v5: batch 100, 50 updates every 50 steps, (256, 256) networks) for `--steps` env steps each
through the real CLI in fresh processes:

- `separate, one after another`: K `rlmeta train` processes in a row (`sequential-compile`: each
  with --compile, the CPU's compiled single-run update);
- `separate, in parallel`: K `rlmeta train` processes at once (the OS spreads them over the cores);
- `--seeds K`: one process, updates vmapped over the seeds;
- `--seeds K --compile`: the same with the vmapped gradients through torch.compile.

Two numbers per mode: total env steps of all seeds over the whole wall time (process start, imports,
compilation included), and the steady rate over the window [--window-start, --steps] read from the
runs' progress.csv (`time/elapsed`), which leaves out start-up and compilation: a long run sees that
rate. Every run uses torch_threads 1 unless --threads (or MODE:T) says otherwise. The last column
compares each mode with the fastest way of running the seeds separately that was measured.

Run:
    .venv/bin/python benchmarks/multiseed_throughput.py                 # writes benchmarks/results/multiseed_throughput.{md,png}
    .venv/bin/python benchmarks/multiseed_throughput.py --steps 1200 --window-start 1000 --start-steps 500 --out /tmp/ms  # quick look
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results"


def rlmeta_cmd(algo: str, args: argparse.Namespace, extra: list[str], threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rlmeta",
        "train",
        algo,
        "--env",
        args.env,
        "--total-steps",
        str(args.steps),
        "--start-steps",
        str(args.start_steps),
        "--update-after",
        str(args.start_steps),
        "--eval-every",
        "0",
        "--log-every",
        str(args.log_every),
        "--no-progress",
        "--no-save-buffer",
        "--torch-threads",
        str(threads),
        "--env-threads",
        "1",
        *args.algo_args,
        *extra,
    ]


def elapsed_at(run_dir: Path, step: int) -> float:
    """time/elapsed of the progress.csv row at global_step == step."""
    with open(run_dir / "progress.csv") as f:
        for row in csv.DictReader(f):
            if int(row["global_step"]) == step:
                return float(row["time/elapsed"])
    raise ValueError(f"{run_dir}: no progress row at step {step}")


def run_mode(name: str, cmds: list[tuple[list[str], list[Path]]], parallel: bool, args: argparse.Namespace) -> dict:
    """Run the commands (in a row or all at once); -> wall time and the steady window rate."""
    t0 = time.perf_counter()
    if parallel:
        procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c, _ in cmds]
        for p in procs:
            _, err = p.communicate()
            if p.returncode:
                raise RuntimeError(f"{name}: exit {p.returncode}: {err.decode()[-800:]}")
    else:
        for c, _ in cmds:
            out = subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if out.returncode:
                raise RuntimeError(f"{name}: exit {out.returncode}: {out.stderr.decode()[-800:]}")
    wall = time.perf_counter() - t0
    dirs = [d for _, ds in cmds for d in ds]
    k = len(dirs)
    window = args.steps - args.window_start
    spans = [elapsed_at(d, args.steps) - elapsed_at(d, args.window_start) for d in dirs]
    if parallel:  # the windows overlap: seeds train side by side
        steady = sum(window / s for s in spans)
    elif len(cmds) == 1:  # one process, one clock for every seed
        steady = k * window / spans[0]
    else:  # one after another
        steady = k * window / sum(spans)
    return {"mode": name, "wall_s": wall, "total_sps": k * args.steps / wall, "steady_sps": steady}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algo", default="sac")
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5000, help="env steps per seed")
    p.add_argument("--start-steps", type=int, default=1000, help="uniform-random steps before the first update")
    p.add_argument("--window-start", type=int, default=3000, help="steady rate measured from this step to --steps")
    p.add_argument("--log-every", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument(
        "--modes",
        nargs="+",
        default=["sequential", "parallel", "seeds", "seeds-compile"],
        help="sequential, sequential-compile, parallel, seeds, seeds-compile; MODE:T runs it with T torch "
        "threads per process",
    )
    p.add_argument("--algo-args", nargs=argparse.REMAINDER, default=[], help="more train flags (last)")
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="repeat the modes, in reverse order every other round (a shared machine's load drifts); "
        "the table gives medians and each round's ratio",
    )
    p.add_argument("--note", default="", help="a line about the machine's load, printed on the page")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for multiseed_throughput.{md,png}")
    args = p.parse_args()
    if (
        not (args.start_steps < args.window_start < args.steps)
        or args.window_start % args.log_every
        or args.steps % args.log_every
    ):
        p.error("need start-steps < window-start < steps, both multiples of --log-every")
    from rlmeta.benchmarks.report import machine_line

    seeds = list(range(args.seeds))
    runs: dict[str, list[dict]] = {}  # label -> one result per round
    t_all = time.perf_counter()
    order = [m for r in range(args.rounds) for m in (args.modes if r % 2 == 0 else args.modes[::-1])]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n, spec in enumerate(order):
            mode, _, t = spec.partition(":")
            threads = int(t) if t else args.threads
            d = root / f"{n}-{spec.replace(':', '-t')}"
            if mode in ("sequential", "sequential-compile", "parallel"):
                extra = ["--compile"] if mode == "sequential-compile" else []
                cmds = [
                    (
                        rlmeta_cmd(args.algo, args, ["--seed", str(s), "--run-dir", str(d / f"s{s}"), *extra], threads),
                        [d / f"s{s}"],
                    )
                    for s in seeds
                ]
                label = f"{args.seeds} separate runs, " + ("in parallel" if mode == "parallel" else "one after another")
                label += " --compile" if extra else ""
            elif mode in ("seeds", "seeds-compile"):
                extra = ["--seeds", str(args.seeds), "--run-dir", str(d / "s{seed}")] + (
                    ["--compile"] if mode == "seeds-compile" else []
                )
                cmds = [(rlmeta_cmd(args.algo, args, extra, threads), [d / f"s{s}" for s in seeds])]
                label = f"--seeds {args.seeds}" + (" --compile" if mode == "seeds-compile" else "")
            else:
                p.error(f"unknown mode {mode}")
            label += f" ({threads} torch thread{'s' if threads > 1 else ''})"
            print(f"{label} ...", file=sys.stderr, flush=True)
            r = run_mode(label, cmds, mode == "parallel", args)
            print(
                f"  wall {r['wall_s']:.1f} s, {r['total_sps']:.1f} env-steps/s overall, {r['steady_sps']:.1f} steady",
                file=sys.stderr,
                flush=True,
            )
            runs.setdefault(label, []).append(r)
    minutes = (time.perf_counter() - t_all) / 60
    med = lambda xs: float(np.median(xs))  # noqa: E731
    results = [
        {
            "mode": label,
            "wall_s": med([r["wall_s"] for r in rs]),
            "total_sps": med([r["total_sps"] for r in rs]),
            "steady_sps": med([r["steady_sps"] for r in rs]),
            "rounds": rs,
        }
        for label, rs in runs.items()
    ]
    ref = next((r for r in results if "one after another" in r["mode"]), results[0])
    par = next((r for r in results if "in parallel" in r["mode"]), None)
    separate = [r for r in results if "separate" in r["mode"]]
    best = max(separate, key=lambda r: r["steady_sps"]) if separate else None

    def per_round(r: dict, base: dict | None) -> str:
        if base is None:
            return "-"
        return ", ".join(f"{a['steady_sps'] / b['steady_sps']:.2f}x" for a, b in zip(r["rounds"], base["rounds"]))

    args.out.mkdir(parents=True, exist_ok=True)
    cmd = "python benchmarks/multiseed_throughput.py " + " ".join(sys.argv[1:])
    lines = [
        f"# {args.seeds} seeds of {args.algo.upper()} ({args.env}) in one process vs separate runs",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}; os.cpu_count() = {os.cpu_count()}  ",
        f"Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.steps} env steps per seed "
        f"({args.start_steps} uniform-random first), torch threads per process: {args.threads} unless the mode "
        "says otherwise; "
        f"whole script {minutes:.1f} min.  ",
    ]
    if args.note:
        lines.append(f"Load: {args.note}  ")
    lines += [
        "",
        f"Settings: `rlmeta train {args.algo}` defaults (the spinningup preset) "
        f"{' '.join(args.algo_args)}, no evaluation, no replay buffer in the checkpoint. Overall = all "
        f"seeds' env steps / wall time of the mode (process start-up, imports and compilation included); "
        f"steady = the rate between steps {args.window_start} and {args.steps} from progress.csv "
        "(what a long run sees).",
        "",
        f"Medians over {args.rounds} round(s) (modes in reverse order every other round); the last two columns "
        "give the steady-rate ratio of each round.",
        "",
        "| mode | wall time (s) | env-steps/s overall | env-steps/s steady | vs one after another (per round) "
        "| vs in parallel (per round) | steady vs fastest separate |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in results:
        vs_best = f"{r['steady_sps'] / best['steady_sps']:.2f}x" if best else "-"
        lines.append(
            f"| {r['mode']} | {r['wall_s']:.1f} | {r['total_sps']:.1f} | {r['steady_sps']:.1f} "
            f"| {per_round(r, ref)} | {per_round(r, par)} | {vs_best} |"
        )
    lines.append("")
    together = [r for r in results if r["mode"].startswith("--seeds")]
    if together and best:
        top = max(together, key=lambda r: r["steady_sps"])
        lines += [
            f"Fastest together: {top['mode']}, {top['steady_sps'] / best['steady_sps']:.2f}x the steady rate of "
            f"the fastest separate mode measured ({best['mode']}); "
            f"{top['steady_sps'] / ref['steady_sps']:.2f}x {ref['mode']}.",
            "",
        ]
    md = args.out / "multiseed_throughput.md"
    png = args.out / "multiseed_throughput.png"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 3.2))
        names = [r["mode"] for r in results]
        y = range(len(results))
        ax.barh([i + 0.2 for i in y], [r["steady_sps"] for r in results], height=0.4, label="steady")
        ax.barh([i - 0.2 for i in y], [r["total_sps"] for r in results], height=0.4, label="overall (incl. start-up)")
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set_xlabel(f"env-steps/s, all {args.seeds} seeds together")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{args.algo.upper()} {args.env}, {args.seeds} seeds", fontsize=10)
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        lines.append(f"![throughput]({png.name})")
    except ImportError:
        pass
    md.write_text("\n".join(lines) + "\n")
    print(f"wrote {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
