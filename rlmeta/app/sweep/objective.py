"""One trial: the `SweepSpec` that defines a sweep, the run config of a trial (`trial_config`), and
`run_trial`, which trains it and scores it by the running mean of a logged metric (`RunningObjective`)."""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlmeta.app.sweep.space import Space
from rlmeta.core.errors import ConfigError


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
    cfg = base.replace(
        **over,
        env=spec.env,
        seed=spec.seed,
        run_dir=str(run_dir),
        resume=None,
        wandb=spec.wandb,
        wandb_group=spec.name,
        wandb_name=f"{spec.name}-trial-{number:03d}",
        progress=False,
        wandb_tags=(*base.wandb_tags, "sweep", f"trial-{number:03d}"),
    )
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


def run_trial(
    spec: SweepSpec,
    space: Space,
    encoded: dict[str, Any],
    run_dir: Path,
    number: int,
    report: Callable[[int, float], None],
) -> tuple[float, float]:
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
