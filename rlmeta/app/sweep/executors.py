"""Where the trials run: `run_local` drives an Optuna study in SQLite (resumable, median pruning,
one process, a lock file); `run_ray` runs the same space and objective on Ray Tune with
OptunaSearch. Both return one `TrialRecord` per finished trial."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlmeta.app.sweep.objective import SweepSpec, run_trial
from rlmeta.app.sweep.space import Space
from rlmeta.core.errors import ConfigError

STATES_DONE = ("COMPLETE", "PRUNED", "FAIL")


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
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
            t.state == TrialState.FAIL and not t.user_attrs.get("interrupted")
        ):
            n += 1
    return n


def run_local(spec: SweepSpec, space: Space, trials: int, out: Path, pruner: str) -> list[TrialRecord]:
    import optuna

    _quiet_optuna()
    lock = _Lock(out / ".sweep.lock")
    try:
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
        study = optuna.create_study(study_name=spec.name, storage=storage, direction="maximize", load_if_exists=True)
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
            print(
                f"rlmeta: resuming sweep {spec.name}: {done} trials finished, {queued} interrupted re-queued",
                file=sys.stderr,
            )
        # a fresh seed per invocation: a resumed TPE/random sampler must not redraw the first points
        study.sampler = optuna.samplers.TPESampler(seed=(spec.seed + len(study.trials)) % 2**32, n_startup_trials=5)
        steps = spec.total_steps or 1
        study.pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=steps // 4)
            if pruner == "median"
            else optuna.pruners.NopPruner()
        )

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


def run_ray(
    spec: SweepSpec,
    space: Space,
    trials: int,
    out: Path,
    pruner: str,
    address: str | None,
    num_cpus: int | None,
    cpus_per_trial: float,
) -> list[TrialRecord]:
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
            tune.report(
                {"objective": value, "global_step": step, "wall_s": time.perf_counter() - t0, "trial_number": number}
            )

        value, wall = run_trial(spec, space, config, run_dir, number, report)
        tune.report(
            {
                "objective": value,
                "global_step": spec.total_steps or 0,
                "wall_s": wall,
                "finished": True,
                "trial_number": number,
            }
        )

    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    try:
        exp = out / "ray" / spec.name
        runnable = tune.with_resources(trainable, {"cpu": cpus_per_trial})
        if tune.Tuner.can_restore(str(exp)):
            print(f"rlmeta: resuming Ray experiment {exp}", file=sys.stderr)
            tuner = tune.Tuner.restore(str(exp), runnable, restart_errored=True)
        else:
            searcher = OptunaSearch(
                space=_DefineByRun(space),
                metric="objective",
                mode="max",
                sampler=optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=5),
            )
            scheduler = None
            if pruner == "median":
                from ray.tune.schedulers import MedianStoppingRule

                scheduler = MedianStoppingRule(
                    time_attr="global_step",
                    metric="objective",
                    mode="max",
                    grace_period=(spec.total_steps or 4) // 4,
                    min_samples_required=3,
                )
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
        records.append(
            TrialRecord(
                number, state, params, m.get("objective"), m.get("wall_s"), str(out / f"trial-{number:03d}"), note
            )
        )
    return sorted(records, key=lambda r: r.number)
