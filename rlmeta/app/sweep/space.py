"""The search space of a sweep: a YAML file read into tuned `Param`s and fixed values, checked
against the algo's Config dataclass (`load_space`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlmeta.core.config import ConfigBase
from rlmeta.core.errors import ConfigError

# fields a sweep sets itself (from flags); a space may not tune or fix them
RESERVED = {"env", "seed", "run_dir", "resume", "wandb", "wandb_group", "wandb_name", "progress"}


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
