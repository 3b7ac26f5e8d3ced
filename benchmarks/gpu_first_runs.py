"""The three GPU pipelines that have never run on a GPU, in one command that fits one device call:
AlphaZero Connect Four (benchmarks/gpu_alphazero.py), SAC and TD3 on parallel mujoco-warp worlds
(benchmarks/gpu_offpolicy.py, HalfCheetah-v5) and MAML cheetah-dir (benchmarks/gpu_maml.py), each
shrunk to a share of 9 minutes and run as its own process under its own hard deadline, so that a
crash, a hang or an overrun in one costs the others nothing. Each pipeline also shrinks its own
phases to end before its --deadline-s; the hard deadline is the backstop.

Writes into --out one folder per pipeline (its report, CSVs and figure, as the script alone writes
them), its log (`NAME.log`), and gpu_first_runs.md + .csv: per pipeline the exit status, the seconds
it took and the last lines of its log when it failed.

On a lent GPU machine (see the device kit's README: call1 installs the wheels, call2 adds Warp):
    bash .device/call1.sh true && bash .device/call2.sh python benchmarks/gpu_first_runs.py --out "$OUT/first"
On the CPU, a tiny configuration of each (what the tests run; mujoco, not Warp, for MAML):
    python benchmarks/gpu_first_runs.py --tiny --out /tmp/first
Full-length checks are the scripts themselves, one call each (their docstrings give the commands).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, arguments on the GPU, arguments of the tiny CPU run, hard deadline in seconds).
# The GPU shares add up to 540 s: AlphaZero trains 130 s (evaluations with the 600-simulation search
# apart), each parallel-worlds run gets 70 s of wall time with kernel compilation and capture, MAML
# meta-trains 60 s and pretrains at most 40 s. Off-policy runs first: it compiles the HalfCheetah
# kernels that MAML's cheetah-dir worlds then find in Warp's cache.
PIPELINES: dict[str, tuple[str, list[str], list[str], float]] = {
    "gpu_offpolicy": (
        "gpu_offpolicy.py",
        ["--phases", "worlds", "--worlds-algos", "sac", "td3", "--worlds-envs", "HalfCheetah-v5"]
        + ["--worlds-budget-s", "70", "--deadline-s", "150"],
        ["--device", "cpu", "--phases", "throughput", "--steps", "40", "--start-steps", "30", "--chunk", "20"]
        + ["--hidden", "16", "--seeds", "2", "--batch", "8", "--check-updates", "3"],
        170.0,
    ),
    "gpu_maml": (
        "gpu_maml.py",
        ["--families", "cheetah-dir", "--budget-s", "60", "--pretrain-cap-s", "40", "--deadline-s", "150"],
        ["--env-backend", "mujoco", "--device", "cpu", "--env-threads", "1", "--families", "cheetah-dir"]
        + ["--meta-batch", "2", "--rollouts", "2", "--horizon", "5", "--eval-tasks", "2", "--max-iters", "2"]
        + ["--hidden-sizes", "16", "--baseline-lrs", "0.1"],
        170.0,
    ),
    "gpu_alphazero": (
        "gpu_alphazero.py",
        ["--budget-s", "130", "--deadline-s", "180", "--eval-every-s", "65"],
        ["--device", "cpu", "--num-envs", "16", "--num-simulations", "4", "--channels", "8", "--blocks", "1"]
        + ["--batch-size", "32", "--min-replay", "16", "--max-iters", "2", "--eval-every-s", "0"]
        + ["--eval-sims", "4", "--limit", "8"],
        200.0,
    ),
}


def run_one(name: str, argv: list[str], deadline_s: float, out: Path) -> dict:
    """Run one pipeline as its own process, killed at deadline_s -> its row for the report."""
    script = PIPELINES[name][0]
    cmd = [sys.executable, str(HERE / script), *argv, "--out", str(out / name)]
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{name}.log"
    t0 = time.perf_counter()
    with log.open("w") as f:
        f.write("$ " + shlex.join(cmd) + "\n")
        f.flush()
        try:
            rc: int | None = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=deadline_s).returncode
        except subprocess.TimeoutExpired:
            rc = None
    seconds = time.perf_counter() - t0
    status = "ok" if rc == 0 else (f"killed at its {deadline_s:g} s deadline" if rc is None else f"failed (exit {rc})")
    tail = "" if rc == 0 else " / ".join(line.strip() for line in log.read_text().splitlines()[-4:] if line.strip())
    print(f"gpu_first_runs: {name}: {status}, {seconds:.0f} s", flush=True)
    return {
        "pipeline": name,
        "status": status,
        "exit_code": "" if rc is None else rc,
        "seconds": round(seconds, 1),
        "log_tail": tail,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="folder for the pipelines' reports, logs and the summary")
    p.add_argument("--tiny", action="store_true", help="tiny CPU configurations (seconds each): the plumbing check")
    p.add_argument("--only", nargs="+", choices=list(PIPELINES), default=list(PIPELINES), help="run just these")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.only:
        _, gpu_argv, tiny_argv, deadline_s = PIPELINES[name]
        rows.append(run_one(name, tiny_argv if args.tiny else gpu_argv, 120.0 if args.tiny else deadline_s, args.out))
    with (args.out / "gpu_first_runs.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [
        "# The GPU pipelines' first runs",
        "",
        f"Command: `python benchmarks/gpu_first_runs.py {shlex.join(argv if argv is not None else sys.argv[1:])}`  ",
        "Each pipeline in its own process under its own deadline; its report is in the folder of its name.",
        "",
        "| pipeline | status | seconds | last lines of its log (on failure) |",
        "|---|---|---:|---|",
        *(
            f"| [{r['pipeline']}]({r['pipeline']}/{r['pipeline']}.md) | {r['status']} | {r['seconds']:.0f} | {r['log_tail']} |"
            for r in rows
        ),
        "",
    ]
    (args.out / "gpu_first_runs.md").write_text("\n".join(lines))
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
