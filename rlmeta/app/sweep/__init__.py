"""Hyperparameter sweeps (`rlmeta sweep`): Optuna locally (SQLite, resumable, median pruning), or Ray
Tune + OptunaSearch. The command's usage, the search-space format and the outputs are documented in
`rlmeta.app.sweep.cli`.

    space.py       the search-space YAML -> Space (tuned Params + fixed values), checked against a Config
    objective.py   SweepSpec, one trial's run config, run_trial (train and score one trial)
    executors.py   run_local (Optuna study) and run_ray (Ray Tune) -> one TrialRecord per finished trial
    report.py      trials.md, trials.csv, importance.png, best.yaml
    cli.py         `rlmeta sweep` argument parsing and checks (cmd_sweep)
"""

from __future__ import annotations

from rlmeta.app.sweep.cli import SweepArgs, cmd_sweep
from rlmeta.app.sweep.executors import (
    STATES_DONE,
    TrialRecord,
    finished_count,
    recover_interrupted,
    run_local,
    run_ray,
)
from rlmeta.app.sweep.executors import _claim_trial_dir as _claim_trial_dir  # (for tests)
from rlmeta.app.sweep.objective import RunningObjective, SweepSpec, run_trial, trial_config
from rlmeta.app.sweep.report import (
    best_record,
    importance_figure,
    write_best_yaml,
    write_importance_png,
    write_outputs,
    write_trials_csv,
    write_trials_md,
)
from rlmeta.app.sweep.space import RESERVED, Param, Space, load_space

__all__ = [
    "RESERVED",
    "STATES_DONE",
    "Param",
    "RunningObjective",
    "Space",
    "SweepArgs",
    "SweepSpec",
    "TrialRecord",
    "best_record",
    "cmd_sweep",
    "finished_count",
    "importance_figure",
    "load_space",
    "recover_interrupted",
    "run_local",
    "run_ray",
    "run_trial",
    "trial_config",
    "write_best_yaml",
    "write_importance_png",
    "write_outputs",
    "write_trials_csv",
    "write_trials_md",
]
