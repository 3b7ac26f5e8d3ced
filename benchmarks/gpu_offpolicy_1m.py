"""DDPG, TD3 and SAC to 1M steps on one GPU under Spinning Up's protocol: the off-policy rows of the
learning-curve table at Spinning Up's own length.

Spinning Up's protocol and settings (`spinningup` presets: one env per run, 50 updates every 50 env
steps, 10 deterministic test episodes every 10k steps). Each (algo, env) group trains its seeds in one
process (`--seeds K`, parameters stacked, the update vmapped), the update replayed as a CUDA graph
(`--compile` on a CUDA device), and the groups run side by side (`--jobs`, one process per group) on
the machine's cores and its one GPU. It is `rlmeta bench` on a suite file this script writes into
--runs, so a cut-off run resumes from its checkpoints when the same command runs again on the same
disk; a deadline (--deadline-s) stops the suite in time for the report, which then shows the step each
run reached.

Writes into --out: summary.md (table against Spinning Up at --at steps, with the machine, the command
and the steps reached), summary.csv, and a plot per env.

    python benchmarks/gpu_offpolicy_1m.py --out benchmarks/results/offpolicy-1m           # on a GPU machine
    python benchmarks/gpu_offpolicy_1m.py --device cpu --steps 3000 --seeds 2 --algos ddpg \\
        --envs Hopper-v5 --at 3000 --out /tmp/off1m                                         # tiny, on a CPU

The CUDA-graph update gives the eager update's numbers to float tolerance: benchmarks/gpu_offpolicy.py
checks it on the GPU, and tests/test_offpolicy.py checks every executor against saved reference numbers.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def suite_yaml(algos: list[str], envs: list[str], steps: int, device: str) -> dict:
    """A suite like spinningup-mujoco's off-policy part, on `device`, every budget name = `steps`."""
    return {
        "name": "spinningup-offpolicy-gpu",
        "description": f"DDPG, TD3, SAC (spinningup presets, update as a CUDA graph on {device})",
        "algos": {a: {"preset": "spinningup", "compile": True, "device": device} for a in algos},
        "envs": envs,
        "seeds": 3,
        "default_budget": "1m",
        "budgets": dict.fromkeys(("smoke", "quick", "1m", "3m"), steps),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="folder for summary.md, summary.csv and the plots")
    p.add_argument(
        "--runs",
        type=Path,
        default=Path("/tmp/rlmeta-offpolicy-1m"),
        help="run directories (checkpoints, replay buffers: large; kept out of --out)",
    )
    p.add_argument("--algos", nargs="+", default=["ddpg", "td3", "sac"], help="off-policy algorithms")
    p.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5"], help="gymnasium ids")
    p.add_argument("--seeds", type=int, default=3, help="seeds per (algo, env), trained together in one process")
    p.add_argument("--steps", type=int, default=1_000_000, help="env steps per run")
    p.add_argument("--device", default="cuda", help="torch device of the updates (cuda: CUDA graphs)")
    p.add_argument("--jobs", type=int, default=0, help="groups side by side (default: all of them)")
    p.add_argument(
        "--deadline-s",
        type=float,
        default=480.0,
        help="wall seconds for training; then the suite is stopped and the report shows the steps reached",
    )
    p.add_argument(
        "--at",
        type=int,
        nargs="+",
        default=[500_000, 800_000, 1_000_000],
        help="steps of the table's rows (Spinning Up's window is two-sided up to 950k)",
    )
    args = p.parse_args(argv)

    args.runs.mkdir(parents=True, exist_ok=True)
    suite = args.runs / "suite.yaml"
    suite.write_text(yaml.safe_dump(suite_yaml(args.algos, args.envs, args.steps, args.device), sort_keys=False))
    jobs = args.jobs or len(args.algos) * len(args.envs)
    bench = [
        sys.executable,
        "-m",
        "rlmeta",
        "bench",
        str(suite),
        "--budget",
        "1m",
        "--seeds",
        str(args.seeds),
        "--out",
        str(args.runs),
        "--jobs",
        str(jobs),
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(bench, start_new_session=True)  # its own process group: the deadline stops all runs
    try:
        rc = proc.wait(timeout=args.deadline_s)
        stopped = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc, stopped = 0, True
    wall = time.perf_counter() - t0

    from rlmeta.benchmarks.executors import last_step

    reached = {d.name: last_step(d) for d in sorted(args.runs.iterdir()) if (d / "progress.csv").exists()}
    subprocess.run([*bench[:9], "--out", str(args.runs), "--report-only", "--at", *map(str, args.at)], check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for f in args.runs.iterdir():
        if f.suffix in (".png", ".csv") or f.name == "summary.md":
            shutil.copy(f, args.out / f.name)
    cmd = "python benchmarks/gpu_offpolicy_1m.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    status = (
        f"stopped by the deadline ({args.deadline_s:.0f} s)" if stopped else f"finished (exit {rc})"
    ) + f" after {wall:.0f} s"
    note = [
        "",
        f"Script: `{cmd}`: {status}. Steps reached: " + ", ".join(f"{k} {v:,}" for k, v in reached.items()) + ".",
        "",
    ]
    md = args.out / "summary.md"
    lines = md.read_text().splitlines()
    md.write_text("\n".join(lines[:3] + note + lines[3:]) + "\n")
    print(md.read_text())
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
