"""Tutorial: a hyperparameter sweep with Optuna (docs/tutorials/sweep.md).

`rlmeta sweep` samples configs from a search-space YAML (examples/sweeps/*.yaml), trains one run per
trial (TPE sampler, median pruning on the running return), stores the study in SQLite so a rerun
resumes, and writes trials.md, importance.png and best.yaml. best.yaml is a preset file: train
with it by `rlmeta train ALGO --preset OUT/best.yaml`.

    python examples/optuna_sweep.py                   # PPO on Pendulum-v1: 3 trials of 2048 steps, then 20k steps
    python examples/optuna_sweep.py --trials 2 --total-steps 1024 --final-steps 1024 --out runs/sweep-demo
    rlmeta sweep ppo --env Hopper-v5 --space examples/sweeps/ppo_hopper.yaml --trials 30 \\
        --total-steps 300000 --out runs/sweep-ppo-hopper                            # a real one (hours)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlmeta.app.cli import main as rlmeta

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Pendulum-v1")
    p.add_argument("--space", default=str(HERE / "sweeps" / "ppo_pendulum_tiny.yaml"))
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--total-steps", type=int, default=2048, help="env steps per trial")
    p.add_argument("--final-steps", type=int, default=20_000, help="env steps of the run with the best config")
    p.add_argument("--out", default="runs/sweep-pendulum")
    a = p.parse_args(argv)
    out = Path(a.out)
    code = rlmeta(
        [
            "sweep",
            "ppo",
            "--env",
            a.env,
            "--space",
            a.space,
            "--trials",
            str(a.trials),
            "--total-steps",
            str(a.total_steps),
            "--out",
            str(out),
        ]
    )
    if code != 0:
        raise SystemExit(code)
    print((out / "best.yaml").read_text())
    # the best trial's settings as a preset; any flag still overrides it
    code = rlmeta(
        [
            "train",
            "ppo",
            "--preset",
            str(out / "best.yaml"),
            "--total-steps",
            str(a.final_steps),
            "--run-dir",
            str(out / "best-run"),
            "--no-progress",
        ]
    )
    if code != 0:
        raise SystemExit(code)
    return out


if __name__ == "__main__":
    main()
