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

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import tyro

from rlmeta.app.cli import parse_command
from rlmeta.app.sweep.executors import run_local, run_ray
from rlmeta.app.sweep.objective import SweepSpec, trial_config
from rlmeta.app.sweep.report import write_outputs
from rlmeta.app.sweep.space import load_space
from rlmeta.core.errors import ConfigError, require_extra

SWEEP_DESCRIPTION = __doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n", 1)[1].split("Outputs:")[0]


@dataclass
class SweepArgs:
    """`rlmeta sweep ALGO --env ENV --space SPACE.yaml --trials N --out DIR [FLAGS]`."""

    algo: tyro.conf.Positional[str] = tyro.MISSING
    """Algorithm (rlmeta train ALGO)."""
    env: str = tyro.MISSING
    """Gymnasium env id."""
    space: str = tyro.MISSING
    """Search-space YAML (see above)."""
    trials: int = tyro.MISSING
    """Finished trials the sweep should reach."""
    out: str = tyro.MISSING
    """Sweep directory (study.db, trial-NNN/, trials.md, best.yaml)."""
    total_steps: Optional[int] = None
    """Env steps per trial, e.g. 200000 or 2e5 (default: the preset's)."""
    seed: int = 0
    """Seed of every trial's run and of the sampler."""
    metric: str = "charts/episodic_return"
    """Metric to maximise (off-policy agents: charts/test_return)."""
    window: int = 5
    """Value = mean of the metric's last N logged values."""
    pruner: Literal["median", "none"] = "median"
    """median: stop a trial whose running value is below the median of earlier trials at the same step (after 3 trials and the first quarter of the budget)."""
    executor: Literal["local", "ray"] = "local"
    """local: trials one after another on this machine (Optuna, SQLite); ray: Ray Tune + OptunaSearch."""
    name: Optional[str] = None
    """Sweep name = W&B group (default: the --out folder's name)."""
    wandb: Literal["disabled", "offline", "online"] = "disabled"
    """W&B mode of every trial."""
    ray_address: Optional[str] = None
    """Ray cluster address (default: start a local Ray)."""
    ray_cpus: Optional[int] = None
    """CPUs of the local Ray (default: all)."""
    cpus_per_trial: float = 1.0
    """Ray: CPUs reserved per trial."""


def cmd_sweep(args: list[str]) -> int:
    """`rlmeta sweep ALGO --env ENV --space SPACE.yaml --trials N --out DIR [...]`."""
    a = parse_command(SweepArgs, args, "rlmeta sweep", SWEEP_DESCRIPTION)
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
