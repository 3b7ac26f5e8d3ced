"""Hyperparameter sweeps: Optuna locally (SQLite, resumable, median pruning), or Ray Tune + OptunaSearch.

    rlmeta sweep ppo --env Hopper-v5 --space examples/sweeps/ppo_hopper.yaml --trials 20 \\
        --total-steps 200000 --out runs/sweep-ppo-hopper [--executor local|ray]

Each trial is a normal run directory DIR/trial-NNN (config.json, progress.csv, checkpoint.pt, W&B run
in group = sweep name). A trial's value is the mean of the last `--window` logged values of
`--metric` (default charts/episodic_return); the same running value is reported after every
iteration as the intermediate value that the pruner compares across trials.

Resuming (local executor): rerun the same command. Finished trials (complete, pruned, or failed by
an error) are kept; a trial left RUNNING by a killed process, or stopped by Ctrl-C, is marked failed
(`interrupted`) and its parameters are queued again, so the sweep ends with --trials finished trials
and never repeats one. A lock file keeps two processes from driving one DIR.

The search space is a YAML file: a mapping per tuned field, a plain value for a fixed one.

    preset: cleanrl                                   # base preset (fixed)
    actor_lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    update_epochs: {type: int, low: 3, high: 10}
    hidden_sizes: {type: categorical, choices: [[64, 64], [256, 256]]}
    ent_coef: 0.0                                     # fixed

Outputs: DIR/trials.md and DIR/trials.csv (params, final return, wall time), DIR/importance.png
(PED-ANOVA importances and parallel coordinates), DIR/best.yaml (`rlmeta train ALGO --preset DIR/best.yaml`).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from rlmeta.app.cli import ArgParser
from rlmeta.app.sweep.executors import run_local, run_ray
from rlmeta.app.sweep.objective import SweepSpec, trial_config
from rlmeta.app.sweep.report import write_outputs
from rlmeta.app.sweep.space import load_space
from rlmeta.core.errors import ConfigError, require_extra


def sweep_parser() -> argparse.ArgumentParser:
    p = ArgParser(
        prog="rlmeta sweep",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n", 1)[1].split("Outputs:")[0],
    )
    p.add_argument("algo", help="algorithm (rlmeta train ALGO)")
    p.add_argument("--env", required=True, help="gymnasium env id")
    p.add_argument("--space", required=True, help="search-space YAML (see above)")
    p.add_argument("--trials", type=int, required=True, help="finished trials the sweep should reach")
    p.add_argument("--out", required=True, help="sweep directory (study.db, trial-NNN/, trials.md, best.yaml)")
    p.add_argument(
        "--total-steps",
        type=_int_arg,
        default=None,
        help="env steps per trial, e.g. 200000 or 2e5 (default: the preset's)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every trial's run and of the sampler")
    p.add_argument(
        "--metric", default="charts/episodic_return", help="metric to maximise (off-policy agents: charts/test_return)"
    )
    p.add_argument("--window", type=int, default=5, help="value = mean of the metric's last N logged values")
    p.add_argument(
        "--pruner",
        choices=["median", "none"],
        default="median",
        help="median: stop a trial whose running value is below the median of earlier trials at the "
        "same step (after 3 trials and the first quarter of the budget)",
    )
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--name", default=None, help="sweep name = W&B group (default: the --out folder's name)")
    p.add_argument("--wandb", choices=["disabled", "offline", "online"], default="disabled")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="Ray: CPUs reserved per trial (default: 1)")
    return p


def _int_arg(text: str) -> int:
    from rlmeta.core.config import parse_int

    try:
        return parse_int(text)
    except ValueError as e:  # argparse words its own message from ArgumentTypeError
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_sweep(args: list[str]) -> int:
    """`rlmeta sweep ALGO --env ENV --space SPACE.yaml --trials N --out DIR [...]`."""
    a = sweep_parser().parse_args(args)
    from rlmeta.app.registry import check_name, get_agent
    from rlmeta.core.config import SEED_LIMIT

    check_name(a.algo)
    require_extra("optuna", "sweep", "rlmeta sweep")
    if a.trials <= 0:
        raise ConfigError(f"--trials must be positive, got {a.trials}")
    if a.total_steps is not None and a.total_steps <= 0:
        raise ConfigError(f"--total-steps must be positive, got {a.total_steps}")
    if a.window <= 0:
        raise ConfigError(f"--window must be positive, got {a.window}")
    if not 0 <= a.seed < SEED_LIMIT:
        raise ConfigError(f"--seed must be in [0, 2**32 - 1], got {a.seed}")
    if a.ray_cpus is not None and a.ray_cpus < 1:
        raise ConfigError(f"--ray-cpus must be >= 1, got {a.ray_cpus}")
    if not (a.cpus_per_trial > 0 and math.isfinite(a.cpus_per_trial)):
        raise ConfigError(f"--cpus-per-trial must be positive, got {a.cpus_per_trial}")
    from rlmeta.envs import action_space_of

    agent_cls = get_agent(a.algo)
    Config = agent_cls.Config
    # an env the agent cannot act in fails here, once, not inside every trial
    agent_cls.check_action_space(action_space_of(a.env), a.env)
    space = load_space(a.space, Config)
    out = Path(a.out)
    spec = SweepSpec(a.algo, a.env, a.total_steps, a.seed, a.metric, a.window, a.name or out.resolve().name, a.wandb)
    # check the base config (preset + fixed values) once, before any trial or Ray start
    probe = {
        n: p.decode(p.encoded[0]) if p.kind == "categorical" else (int(p.low) if p.kind == "int" else p.low)
        for n, p in space.params.items()
    }
    trial_config(spec, space, probe, out / "trial-000", 0)
    out.mkdir(parents=True, exist_ok=True)
    command = "rlmeta sweep " + " ".join(args)
    try:
        if a.executor == "ray":
            records = run_ray(spec, space, a.trials, out, a.pruner, a.ray_address, a.ray_cpus, a.cpus_per_trial)
        else:
            records = run_local(spec, space, a.trials, out, a.pruner)
    except KeyboardInterrupt:
        print(f"rlmeta: sweep interrupted; rerun the same command to resume ({out})", file=sys.stderr)
        return 130
    best = write_outputs(out, spec, space, records, command, a.executor)
    print(f"rlmeta: {len(records)} trials -> {out / 'trials.md'}, {out / 'importance.png'}")
    if best is None:
        print("rlmeta: no trial completed; no best.yaml written", file=sys.stderr)
        return 1
    print(f"rlmeta: best trial {best.number} ({spec.metric} {best.value:.4g}) -> {out / 'best.yaml'}")
    return 0
