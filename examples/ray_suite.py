"""Tutorial: run a benchmark suite on Ray (docs/tutorials/ray.md).

A suite is a YAML list of (algo, env, seed) runs; `rlmeta bench SUITE --executor ray` sends each run
to a Ray worker as a task (one CPU each), copies back its small files (config.json, progress.csv,
done) and writes summary.md, summary.csv and one plot per env. Without --ray-address it starts a
local Ray with --jobs CPUs; with `--ray-address auto` (on a cluster node) or ray://HOST:10001 it
uses your cluster. Rerunning the command resumes: finished runs are skipped.

    python examples/ray_suite.py                              # examples/suites/tiny.yaml, local Ray
    python examples/ray_suite.py --ray-address auto --budget quick    # on a running cluster
    rlmeta bench examples/suites/tiny.yaml --executor ray --jobs 2    # the same, from the shell
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from rlmeta.app.cli import main as rlmeta

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default=str(HERE / "suites" / "tiny.yaml"))
    p.add_argument("--budget", default="smoke")
    p.add_argument("--jobs", type=int, default=2, help="CPUs of the local Ray (one run per CPU)")
    p.add_argument("--ray-address", default=None, help="an existing cluster: auto, or ray://HOST:10001")
    p.add_argument("--only", nargs="+", default=None, help="run only these algos and/or envs of the suite")
    p.add_argument("--out", default="runs/ray-suite")
    a = p.parse_args(argv)
    args = ["bench", a.suite, "--executor", "ray", "--budget", a.budget, "--jobs", str(a.jobs), "--out", a.out]
    if a.ray_address:
        args += ["--ray-address", a.ray_address]
    if a.only:
        args += ["--only", *a.only]
    code = rlmeta(args)
    if code != 0:
        raise SystemExit(code)
    out = Path(a.out)
    with (out / "summary.csv").open() as f:
        for row in csv.DictReader(f):
            print(
                f"{row['algo']} {row['env']} at {row['step']} steps: {float(row['mean']):.1f} over {row['seeds']} seeds"
            )
    return out


if __name__ == "__main__":
    main()
