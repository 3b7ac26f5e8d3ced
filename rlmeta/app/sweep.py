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
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlmeta.app.cli import ArgParser
from rlmeta.core.config import ConfigBase
from rlmeta.core.errors import ConfigError, require_extra

# fields a sweep sets itself (from flags); a space may not tune or fix them
RESERVED = {"env", "seed", "run_dir", "resume", "wandb", "wandb_group", "wandb_name", "progress"}
STATES_DONE = ("COMPLETE", "PRUNED", "FAIL")


# --------------------------------------------------------------------------- the search space
@dataclass
class Param:
    """One tuned field. Categorical choices that are not scalars (tuples) are encoded as JSON strings
    for Optuna, whose categorical distribution only holds None/bool/int/float/str."""

    name: str
    kind: str  # float | int | categorical
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    @property
    def encoded(self) -> tuple:
        scalar = all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices)
        return self.choices if scalar else tuple(json.dumps(c) for c in self.choices)

    def decode(self, v: Any) -> Any:
        if self.kind != "categorical":
            return v
        c = self.choices[self.encoded.index(v)]
        return tuple(c) if isinstance(c, list) else c

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "float":
            return FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return CategoricalDistribution(self.encoded)


@dataclass
class Space:
    params: dict[str, Param]
    fixed: dict[str, Any]

    def suggest(self, trial) -> dict[str, Any]:
        """Ask an Optuna trial (or a Ray OptunaSearch define-by-run trial) for every param -> encoded values."""
        return {name: _suggest(trial, p) for name, p in self.params.items()}

    def decode(self, encoded: dict[str, Any]) -> dict[str, Any]:
        return {k: self.params[k].decode(v) for k, v in encoded.items() if k in self.params}


def _suggest(trial, p: Param) -> Any:
    if p.kind == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return trial.suggest_categorical(p.name, list(p.encoded))


def _num(path: Path, name: str, key: str, v: Any) -> float:
    # PyYAML reads `1e-5` (no dot) as a string (YAML 1.1); accept it as a number
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: '{name}.{key}' must be a number, got {v!r}") from None


def load_space(path: str | Path, Config: type[ConfigBase]) -> Space:
    """Parse and check a space YAML against the algo's Config dataclass."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"space file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"space file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"space file {path} must be a mapping of field -> spec")
    fields = {f.name for f in dataclasses.fields(Config)}
    params, fixed = {}, {}
    for name, spec in data.items():
        if name not in fields and name != "preset":
            raise ConfigError(f"{path}: '{name}' is not a {Config.__name__} field")
        if name in RESERVED:
            raise ConfigError(f"{path}: '{name}' is set by `rlmeta sweep` flags, not by the space")
        if not isinstance(spec, dict):
            fixed[name] = spec if name == "preset" else Config.coerce_dict({name: spec}, str(path))[name]
            continue
        kind = spec.get("type")
        unknown = set(spec) - {"type", "low", "high", "log", "step", "choices"}
        if unknown:
            raise ConfigError(f"{path}: '{name}' has unknown keys {sorted(unknown)}")
        if kind in ("float", "int"):
            if "low" not in spec or "high" not in spec:
                raise ConfigError(f"{path}: '{name}' ({kind}) needs low and high")
            low, high = _num(path, name, "low", spec["low"]), _num(path, name, "high", spec["high"])
            log = bool(spec.get("log", False))
            step = _num(path, name, "step", spec["step"]) if spec.get("step") is not None else None
            if not low < high:
                raise ConfigError(f"{path}: '{name}' needs low < high, got {low} and {high}")
            if log and low <= 0:
                raise ConfigError(f"{path}: '{name}' has log: true, so low must be > 0 (got {low})")
            if log and step is not None:
                raise ConfigError(f"{path}: '{name}' cannot have both log and step")
            if kind == "int" and (low != int(low) or high != int(high)):
                raise ConfigError(f"{path}: '{name}' (int) needs integer bounds")
            params[name] = Param(name, kind, low, high, log, step)
        elif kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{path}: '{name}' (categorical) needs a non-empty list of choices")
            choices = [Config.coerce_dict({name: c}, f"{path}: choice {i}")[name] for i, c in enumerate(choices)]
            params[name] = Param(name, kind, choices=tuple(choices))
        else:
            raise ConfigError(f"{path}: '{name}' type must be float, int or categorical, got {kind!r}")
    if not params:
        raise ConfigError(f"space file {path} tunes nothing (give at least one field a {{type: ...}} spec)")
    return Space(params, fixed)


# --------------------------------------------------------------------------- one trial
@dataclass
class SweepSpec:
    """Everything that defines a sweep (stored in the study; a resumed sweep must match)."""

    algo: str
    env: str
    total_steps: int | None
    seed: int
    metric: str
    window: int
    name: str
    wandb: str

    def key(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "wandb"}


def trial_config(spec: SweepSpec, space: Space, values: dict[str, Any], run_dir: Path, number: int):
    """The run config of one trial: base preset + fixed values + sampled values + sweep flags."""
    from rlmeta.app.cli import load_preset
    from rlmeta.app.registry import get_agent

    Config = get_agent(spec.algo).Config
    fixed = dict(space.fixed)
    preset = fixed.pop("preset", None)
    base = load_preset(Config, preset, spec.algo) if preset else next(iter(Config.presets().values()))
    over = {**fixed, **values}
    if spec.total_steps is not None:
        over["total_steps"] = spec.total_steps
    cfg = base.replace(**over, env=spec.env, seed=spec.seed, run_dir=str(run_dir), resume=None,
                       wandb=spec.wandb, wandb_group=spec.name, wandb_name=f"{spec.name}-trial-{number:03d}",
                       progress=False,
                       wandb_tags=(*base.wandb_tags, "sweep", f"trial-{number:03d}"))
    cfg.validate()
    return cfg


class RunningObjective:
    """Mean of the last `window` logged values of `metric`: the trial's intermediate and final value."""

    def __init__(self, metric: str, window: int):
        self.metric = metric
        self.recent: deque[float] = deque(maxlen=window)

    def update(self, metrics: dict[str, float]) -> float | None:
        v = metrics.get(self.metric)
        if v is not None and math.isfinite(v):
            self.recent.append(float(v))
        return self.value

    @property
    def value(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None


def run_trial(spec: SweepSpec, space: Space, encoded: dict[str, Any], run_dir: Path, number: int,
              report: Callable[[int, float], None]) -> tuple[float, float]:
    """Train one trial; report(step, value) after each iteration (may raise to prune). -> (value, wall s)."""
    from rlmeta.app.runner import train

    cfg = trial_config(spec, space, space.decode(encoded), run_dir, number)
    objective = RunningObjective(spec.metric, spec.window)

    def callback(step: int, metrics: dict[str, float]) -> None:
        v = objective.update(metrics)
        if v is not None:
            report(step, v)

    t0 = time.perf_counter()
    train(spec.algo, cfg, callback=callback)
    if objective.value is None:
        raise ConfigError(f"trial {number} never logged {spec.metric} (budget too small for one episode?)")
    return objective.value, time.perf_counter() - t0


# --------------------------------------------------------------------------- local executor: Optuna
@dataclass
class TrialRecord:
    number: int
    state: str  # COMPLETE | PRUNED | FAIL
    params: dict[str, Any]  # encoded (as Optuna stores them)
    value: float | None
    wall_s: float | None
    run_dir: str
    note: str = ""


class _Lock:
    """An exclusive flock on DIR/.sweep.lock; released by the OS when the process dies."""

    def __init__(self, path: Path):
        import fcntl

        self.f = path.open("a+")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.f.close()
            raise ConfigError(f"another `rlmeta sweep` is running in {path.parent}") from None

    def release(self) -> None:
        self.f.close()


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def recover_interrupted(study) -> int:
    """Mark RUNNING trials (their process died: we hold the lock) as failed + interrupted and queue
    the parameters of every interrupted trial that no trial retries yet. -> number queued."""
    from optuna.trial import TrialState

    storage, queued = study._storage, 0
    trials = study.get_trials(deepcopy=False)
    # a finished trial cannot take new attributes, so a retry is known by its own `retry_of`
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    for t in trials:
        if t.state == TrialState.RUNNING:
            storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        elif not (t.state == TrialState.FAIL and t.user_attrs.get("interrupted")):
            continue
        if t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            queued += 1
    return queued


def finished_count(study) -> int:
    """Trials that count toward --trials: complete, pruned, or failed by an error (not interrupted)."""
    from optuna.trial import TrialState

    n = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")):
            n += 1
    return n


def run_local(spec: SweepSpec, space: Space, trials: int, out: Path, pruner: str) -> list[TrialRecord]:
    import optuna

    _quiet_optuna()
    lock = _Lock(out / ".sweep.lock")
    try:
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
        study = optuna.create_study(study_name=spec.name, storage=storage, direction="maximize",
                                    load_if_exists=True)
        saved = study.user_attrs.get("spec")
        if saved is None:
            study.set_user_attr("spec", spec.key())
            study.set_user_attr("space", {k: dataclasses.asdict(p) for k, p in space.params.items()})
        elif saved != spec.key():
            diff = {k: (saved.get(k), v) for k, v in spec.key().items() if saved.get(k) != v}
            raise ConfigError(f"{out} holds a different sweep (was -> now: {diff}); use another --out")
        queued = recover_interrupted(study)
        done = finished_count(study)
        if done or queued:
            print(f"rlmeta: resuming sweep {spec.name}: {done} trials finished, {queued} interrupted re-queued",
                  file=sys.stderr)
        # a fresh seed per invocation: a resumed TPE/random sampler must not redraw the first points
        study.sampler = optuna.samplers.TPESampler(seed=(spec.seed + len(study.trials)) % 2**32,
                                                   n_startup_trials=5)
        steps = spec.total_steps or 1
        study.pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=steps // 4)
                        if pruner == "median" else optuna.pruners.NopPruner())

        def objective(trial) -> float:
            encoded = space.suggest(trial)
            run_dir = out / f"trial-{trial.number:03d}"
            trial.set_user_attr("run_dir", str(run_dir))
            t0 = time.perf_counter()

            def report(step: int, value: float) -> None:
                trial.report(value, step)
                if trial.should_prune():
                    trial.set_user_attr("wall_s", time.perf_counter() - t0)
                    raise optuna.TrialPruned(f"pruned at step {step}")

            try:
                value, wall = run_trial(spec, space, encoded, run_dir, trial.number, report)
            except KeyboardInterrupt:
                trial.set_user_attr("interrupted", True)
                raise
            except optuna.TrialPruned:
                raise
            except Exception as e:
                trial.set_user_attr("error", f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
                trial.set_user_attr("wall_s", time.perf_counter() - t0)
                raise
            trial.set_user_attr("wall_s", wall)
            return value

        def announce(study, t) -> None:
            val = "" if t.value is None else f" value {t.value:.2f}"
            err = f" ({t.user_attrs['error']})" if "error" in t.user_attrs else ""
            print(f"rlmeta: trial {t.number}: {t.state.name}{val}{err}", file=sys.stderr, flush=True)

        remaining = max(0, trials - done)
        if remaining:
            study.optimize(objective, n_trials=remaining, catch=(Exception,), callbacks=[announce])
        return [_record(t) for t in study.get_trials(deepcopy=False) if t.state.name in STATES_DONE]
    finally:
        lock.release()


def _record(t) -> TrialRecord:
    a = t.user_attrs
    note = "interrupted" if a.get("interrupted") else a.get("error", "")
    if "retry_of" in a:
        note = f"retry of {a['retry_of']}" + (f"; {note}" if note else "")
    value = t.value
    if t.state.name == "PRUNED" and value is None and t.intermediate_values:  # its last running value
        value = t.intermediate_values[max(t.intermediate_values)]
    return TrialRecord(t.number, t.state.name, dict(t.params), value, a.get("wall_s"), a.get("run_dir", ""), note)


# --------------------------------------------------------------------------- Ray executor
def _claim_trial_dir(out: Path, ray_trial_id: str) -> tuple[int, Path]:
    """The lowest free DIR/trial-NNN, claimed with an atomic mkdir (Ray trial ids carry no index;
    trials start concurrently in several worker processes). A trial Ray starts again (its function
    restarts from scratch, e.g. after its actor was lost) gets its own folder back, emptied, so the
    numbering stays 0..N-1. -> (number, run dir)"""
    for old in sorted(out.glob("trial-*/ray_trial_id.txt")):
        if old.read_text().strip() == ray_trial_id:
            run_dir = old.parent
            shutil.rmtree(run_dir)
            run_dir.mkdir()
            (run_dir / "ray_trial_id.txt").write_text(ray_trial_id + "\n")
            return int(run_dir.name.split("-")[1]), run_dir
    number = 0
    while True:
        run_dir = out / f"trial-{number:03d}"
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            number += 1
            continue
        (run_dir / "ray_trial_id.txt").write_text(ray_trial_id + "\n")
        return number, run_dir


class _DefineByRun:
    """OptunaSearch's define-by-run space: asks the trial, returns None. A class, not a closure:
    Ray pickles the searcher (with plain pickle) into its experiment checkpoint."""

    def __init__(self, space: Space):
        self.space = space

    def __call__(self, trial) -> None:
        self.space.suggest(trial)


def run_ray(spec: SweepSpec, space: Space, trials: int, out: Path, pruner: str, address: str | None,
            num_cpus: int | None, cpus_per_trial: float) -> list[TrialRecord]:
    """The same space and objective on Ray Tune with Optuna's TPE as searcher; one CPU per trial by
    default. Ray's MedianStoppingRule plays the MedianPruner's part. Rerunning resumes the experiment
    (Tuner.restore; errored trials restart)."""
    try:
        import ray
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as e:
        raise ConfigError(f"--executor ray needs ray[tune] (extra `dist`): {e}") from None
    import optuna

    _quiet_optuna()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    out = out.resolve()

    def trainable(config: dict[str, Any]) -> None:
        number, run_dir = _claim_trial_dir(out, tune.get_context().get_trial_id())
        t0 = time.perf_counter()

        def report(step: int, value: float) -> None:
            tune.report({"objective": value, "global_step": step, "wall_s": time.perf_counter() - t0,
                         "trial_number": number})

        value, wall = run_trial(spec, space, config, run_dir, number, report)
        tune.report({"objective": value, "global_step": spec.total_steps or 0, "wall_s": wall, "finished": True,
                     "trial_number": number})

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        exp = out / "ray" / spec.name
        runnable = tune.with_resources(trainable, {"cpu": cpus_per_trial})
        if tune.Tuner.can_restore(str(exp)):
            print(f"rlmeta: resuming Ray experiment {exp}", file=sys.stderr)
            tuner = tune.Tuner.restore(str(exp), runnable, restart_errored=True)
        else:
            searcher = OptunaSearch(space=_DefineByRun(space), metric="objective", mode="max",
                                    sampler=optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=5))
            scheduler = None
            if pruner == "median":
                from ray.tune.schedulers import MedianStoppingRule

                scheduler = MedianStoppingRule(time_attr="global_step", metric="objective", mode="max",
                                               grace_period=(spec.total_steps or 4) // 4, min_samples_required=3)
            tuner = tune.Tuner(
                runnable,
                tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=trials),
                run_config=tune.RunConfig(name=spec.name, storage_path=str(out / "ray"), verbose=0),
            )
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    records, unnumbered = [], 10_000  # trials that died before their first report sort last
    for r in grid:
        m = r.metrics or {}
        if "trial_number" in m:
            number = int(m["trial_number"])
        else:
            number, unnumbered = unnumbered, unnumbered + 1
        params = {k: v for k, v in (r.config or {}).items() if k in space.params}
        if r.error is not None:
            # Ray's error text is the worker's traceback; its last line names the exception
            lines = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(r.error)).splitlines() if ln.strip()]
            state, note = "FAIL", (lines[-1].strip()[:200] if lines else type(r.error).__name__)
        else:
            state, note = ("COMPLETE", "") if m.get("finished") else ("PRUNED", "stopped by MedianStoppingRule")
        records.append(TrialRecord(number, state, params, m.get("objective"), m.get("wall_s"),
                                   str(out / f"trial-{number:03d}"), note))
    return sorted(records, key=lambda r: r.number)


# --------------------------------------------------------------------------- outputs
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def write_trials_md(path: Path, spec: SweepSpec, space: Space, records: list[TrialRecord], command: str,
                    executor: str) -> None:
    names = list(space.params)
    best = best_record(records)
    lines = [f"# Sweep `{spec.name}`: {spec.algo} on {spec.env}", "",
             f"- command: `{command}`",
             f"- executor: {executor}; value = mean of the last {spec.window} logged `{spec.metric}`",
             f"- budget per trial: {spec.total_steps or 'preset default'} env steps; seed {spec.seed}",
             f"- fixed: {space.fixed or '{}'}",
             f"- best: trial {best.number} ({best.value:.4g})" if best else "- best: none completed", "",
             "| trial | state | " + " | ".join(names) + " | final return | wall s | note |",
             "|---|---|" + "---|" * len(names) + "---|---|---|"]
    for r in records:
        vals = [_fmt(r.params.get(n)) for n in names]
        lines.append(f"| {r.number} | {r.state} | " + " | ".join(vals) +
                     f" | {_fmt(r.value)} | {'' if r.wall_s is None else f'{r.wall_s:.1f}'} | {r.note} |")
    path.write_text("\n".join(lines) + "\n")


def write_trials_csv(path: Path, space: Space, records: list[TrialRecord]) -> None:
    """The numbers of trials.md, one row per trial: trial, state, value, wall_s, best (1 for the best
    trial), note, then one column per tuned parameter (as Optuna stores it: categorical choices
    that are lists as JSON text)."""
    import csv

    names = list(space.params)
    best = best_record(records)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trial", "state", "value", "wall_s", "best", "note", *names])
        for r in records:
            w.writerow([r.number, r.state, "" if r.value is None else repr(float(r.value)),
                        "" if r.wall_s is None else f"{r.wall_s:.3f}", int(best is not None and r is best), r.note,
                        *["" if r.params.get(n) is None else r.params[n] for n in names]])


def best_record(records: list[TrialRecord]) -> TrialRecord | None:
    done = [r for r in records if r.state == "COMPLETE" and r.value is not None]
    return max(done, key=lambda r: r.value or 0.0) if done else None  # (value is not None in `done`)


def write_best_yaml(path: Path, spec: SweepSpec, space: Space, best: TrialRecord) -> None:
    """A preset file for `rlmeta train ALGO --preset FILE`: the fixed values plus the best trial's params."""
    import yaml

    from rlmeta.app.registry import get_agent

    fields = {f.name for f in dataclasses.fields(get_agent(spec.algo).Config)}
    data: dict[str, Any] = {"algo": spec.algo}
    if "preset" in space.fixed and "preset" in fields:
        data["preset"] = space.fixed["preset"]
    data["env"] = spec.env
    data.update({k: list(v) if isinstance(v, tuple) else v for k, v in space.fixed.items() if k != "preset"})
    for k, v in space.decode(best.params).items():
        data[k] = list(v) if isinstance(v, tuple) else v
    head = (f"# best of sweep {spec.name}: trial {best.number}, {spec.metric} {best.value:.4g} "
            f"after {spec.total_steps or 'default'} steps\n# rlmeta train {spec.algo} --preset {path}\n")
    path.write_text(head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


AXIS_INCHES = 1.35  # parallel coordinates: width per axis, room for a tick label of LABEL_CHARS
LABEL_CHARS = 16  # at fontsize 7, 16 characters take about 0.85 inch


def _wrap(text: str, width: int = LABEL_CHARS) -> str:
    """Break a label into lines of <= width characters after '_', '/' or ' ' (field and metric
    names have no spaces for textwrap to break at); a longer unbroken piece keeps its own line."""
    lines = [""]
    for piece in re.split(r"(?<=[_/ ])", text):
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append("")
        lines[-1] += piece
    return "\n".join(line.strip() for line in lines)


def _range_text(p: Param) -> str:
    if p.kind == "categorical":
        return " | ".join(_fmt(list(c) if isinstance(c, tuple) else c).replace(" ", "") for c in p.choices)
    return f"[{p.low:.3g}, {p.high:.3g}]" + (" log" if p.log else "")


def importance_figure(space: Space, records: list[TrialRecord], metric: str):
    """Left: parameter importances (Optuna's PED-ANOVA); right: parallel coordinates of complete
    trials, one axis per parameter and one for the metric. The figure widens with the number of axes
    and tick labels are wrapped, so neighbouring labels do not overlap. -> matplotlib Figure"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import optuna

    done = [r for r in records if r.state == "COMPLETE" and r.value is not None]
    names = list(space.params)
    coords_width = max(7.5, AXIS_INCHES * (len(names) + 1))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(4.5 + coords_width, 4.8),
                                   gridspec_kw={"width_ratios": [4.5, coords_width]})
    importances: dict[str, float] = {}
    if len(done) >= 2:
        study = optuna.create_study(direction="maximize")
        dists = {n: p.distribution() for n, p in space.params.items()}
        for r in done:
            study.add_trial(optuna.trial.create_trial(params=r.params, distributions=dists, value=r.value))
        try:
            # Optuna's default evaluator (PED-ANOVA) needs no scikit-learn, unlike fANOVA; it warns
            # when few trials make its quantiles coincide (importances then come out equal)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importances = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial had the same params
            importances = {}
    if importances:
        keys = list(importances)[::-1]
        ax0.barh(keys, [importances[k] for k in keys], color="tab:blue")
        ax0.set_xlabel("importance (Optuna PED-ANOVA)")
    else:
        ax0.text(0.5, 0.5, "needs >= 2 complete trials\nwith differing params", ha="center", va="center")
        ax0.set_axis_off()
    ax0.set_title("parameter importance")
    if done:
        # each axis scaled to [0, 1] over its range (log10 for log params, index for categoricals)
        def coord(p: Param, v: Any) -> float:
            if p.kind == "categorical":
                return p.encoded.index(v) / max(len(p.choices) - 1, 1)
            lo, hi, x = (math.log10(p.low), math.log10(p.high), math.log10(v)) if p.log else (p.low, p.high, v)
            return (x - lo) / (hi - lo)

        vals = np.array([r.value for r in done])
        vmin, vmax = vals.min(), vals.max()
        cmap = plt.get_cmap("viridis")
        for r in sorted(done, key=lambda r: r.value or 0.0):  # (value is not None in `done`)
            ys = [coord(space.params[n], r.params[n]) for n in names] + [
                (r.value - vmin) / (vmax - vmin) if vmax > vmin else 0.5]
            c = cmap((r.value - vmin) / (vmax - vmin) if vmax > vmin else 0.5)
            ax1.plot(range(len(ys)), ys, "-o", color=c, alpha=0.8, ms=3)
        labels = [f"{_wrap(n)}\n{_wrap(_range_text(space.params[n]))}" for n in names]
        labels.append(f"{_wrap(metric)}\n{_wrap(f'[{vmin:.4g}, {vmax:.4g}]')}")
        ax1.set_xticks(range(len(labels)), labels, fontsize=7)
        ax1.set_yticks([0, 1], ["low", "high"])
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
        fig.colorbar(sm, ax=ax1, label=metric)
    ax1.set_title(f"parallel coordinates ({len(done)} complete trials)")
    fig.tight_layout()
    return fig


def write_importance_png(path: Path, space: Space, records: list[TrialRecord], metric: str) -> None:
    import matplotlib.pyplot as plt

    fig = importance_figure(space, records, metric)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(out: Path, spec: SweepSpec, space: Space, records: list[TrialRecord], command: str,
                  executor: str) -> TrialRecord | None:
    write_trials_md(out / "trials.md", spec, space, records, command, executor)
    write_trials_csv(out / "trials.csv", space, records)
    write_importance_png(out / "importance.png", space, records, spec.metric)
    best = best_record(records)
    if best is not None:
        write_best_yaml(out / "best.yaml", spec, space, best)
    return best


# --------------------------------------------------------------------------- CLI
def sweep_parser() -> argparse.ArgumentParser:
    p = ArgParser(prog="rlmeta sweep", formatter_class=argparse.RawDescriptionHelpFormatter,
                description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n", 1)[1].split("Outputs:")[0])
    p.add_argument("algo", help="algorithm (rlmeta train ALGO)")
    p.add_argument("--env", required=True, help="gymnasium env id")
    p.add_argument("--space", required=True, help="search-space YAML (see above)")
    p.add_argument("--trials", type=int, required=True, help="finished trials the sweep should reach")
    p.add_argument("--out", required=True, help="sweep directory (study.db, trial-NNN/, trials.md, best.yaml)")
    p.add_argument("--total-steps", type=_int_arg, default=None,
                   help="env steps per trial, e.g. 200000 or 2e5 (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="seed of every trial's run and of the sampler")
    p.add_argument("--metric", default="charts/episodic_return", help="metric to maximise (off-policy agents: "
                   "charts/test_return)")
    p.add_argument("--window", type=int, default=5, help="value = mean of the metric's last N logged values")
    p.add_argument("--pruner", choices=["median", "none"], default="median",
                   help="median: stop a trial whose running value is below the median of earlier trials at the "
                        "same step (after 3 trials and the first quarter of the budget)")
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
    probe = {n: p.decode(p.encoded[0]) if p.kind == "categorical" else (int(p.low) if p.kind == "int" else p.low)
             for n, p in space.params.items()}
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
