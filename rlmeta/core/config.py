"""Config dataclasses. Every field has a docstring: tyro turns it into `--help` text.

One dataclass per agent, inheriting the shared run fields from `RunConfig` (one level only).
Presets are plain instances of the agent's dataclass, e.g. `PPOConfig.presets()["spinningup"]`.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Optional

from rlmeta.core.env_ids import is_atari
from rlmeta.core.errors import ConfigError
from rlmeta.core.fileio import write_text_atomic
from rlmeta.core.memory import MAX_THREADS, check_fits

# numpy's global seeding (np.random.seed) and Optuna's samplers take seeds below 2**32
SEED_LIMIT = 2**32
# step counters, sizes and seeds end up in torch int64 tensors and numpy int64 arrays
INT64_MAX = 2**63 - 1


def flag(name: str) -> str:
    """The command-line spelling of a config field: total_steps -> --total-steps."""
    return "--" + name.replace("_", "-")


def parse_int(text: str) -> int:
    """An integer written as 1000000, 1_000_000 or 1e6 (exactly, via Decimal: no float rounding);
    ValueError for 1.5, nan or words. Step counts are habitually written in scientific notation."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        d = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError(f"expected an integer such as 1000000 or 1e6, got {text!r}") from None
    # the exponent check keeps Decimal from expanding e.g. 1e999999999 into a billion digits
    if not d.is_finite() or d.adjusted() > 30 or d != d.to_integral_value():
        raise ValueError(f"expected an integer such as 1000000 or 1e6, got {text!r}")
    return int(d)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """value (from YAML/JSON) as an instance of the field type tp, or ConfigError naming `where`.
    Handles the types config fields use: int, float, bool, str, Literal, Optional/unions, tuple[X, ...]."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(str, args))}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        elem = args[:1] * len(value) if args[-1:] == (Ellipsis,) else args
        if len(elem) != len(value):
            raise ConfigError(f"{where}: expected {len(elem)} values, got {value!r}")
        return tuple(_coerce(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, elem)))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, (float, str)) and not isinstance(value, bool):
            try:
                return parse_int(str(value))
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 1e-5, without a dot, as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    else:  # a type no config uses yet: leave the value to the dataclass
        return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


class ConfigBase:
    """What every config dataclass shares (RunConfig for agents, the meta-training configs):
    dict round trip through config.json, replace, and the value checks of validate()."""

    if TYPE_CHECKING:  # every subclass is a @dataclass: what dataclasses.fields / asdict / replace take
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def check_finite(self) -> None:
        """Values a run can hold: floats finite, ints within int64, the seed below SEED_LIMIT, and
        no empty directory name (--run-dir '' would silently mean the default run dir)."""
        for name in ("run_dir", "resume"):
            if getattr(self, name, None) == "":
                raise ConfigError(f"{flag(name)} must name a directory, got ''")
        seed = getattr(self, "seed", None)
        if isinstance(seed, int) and not 0 <= seed < SEED_LIMIT:
            raise ConfigError(f"{flag('seed')} must be in [0, 2**32 - 1], got {seed}")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{flag(f.name)} must be finite, got {v}")
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT64_MAX:
                raise ConfigError(f"{flag(f.name)} is too large, got {v}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **kw: Any):
        return dataclasses.replace(self, **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | None = None):
        """An instance from field values read from JSON/YAML (config.json, a preset file): unknown
        keys and values of the wrong type are a ConfigError naming `source`, not a TypeError later."""
        return cls(**cls.coerce_dict(d, source or cls.__name__))

    @classmethod
    def coerce_dict(cls, d: dict[str, Any], source: str) -> dict[str, Any]:
        """d's values as the field types (JSON lists -> tuples, 1e6 -> int); checks the keys."""
        import difflib

        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        for k in d:
            if k not in hints or k not in names:
                close = difflib.get_close_matches(str(k), names, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"{source}: unknown key '{k}'{hint}; {cls.__name__} has no such field")
        return {k: _coerce(v, hints[k], f"{source}: {k}") for k, v in d.items()}


@dataclass
class RunConfig(ConfigBase):
    """Fields every training run shares (env, budget, seed, devices, logging, checkpoints)."""

    env: str = "HalfCheetah-v5"
    """Gymnasium environment id, e.g. HalfCheetah-v5, Hopper-v5 (continuous agents need a Box action space)."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all parallel envs (1000000 or 1e6)."""
    seed: int = 0
    """Seed of python, numpy, torch and the envs (0 to 2**32 - 1); a run is reproducible on the same machine."""
    seeds: int = 1
    """Train K seeds (seed, seed+1, ..., seed+K-1) together in one process (ddpg, td3, sac): parameters
    stacked, updates vmapped. Each seed gets the run dir, config.json, progress.csv, checkpoint and W&B
    run its single run would (--run-dir/--resume may hold a {seed} placeholder) and matches that run
    to float tolerance."""
    run_dir: Optional[str] = None
    """Where config.json, progress.csv and checkpoint.pt go (default: runs/{algo}-{env}-s{seed})."""
    resume: Optional[str] = None
    """Continue the run in this directory from its last checkpoint (its config.json is the default config)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device for networks and updates; auto picks cuda when available."""
    num_envs: int = 1
    """Parallel environments stepped as one batch."""
    env_backend: Literal["auto", "sync", "async", "mujoco", "warp", "atari"] = "auto"
    """Vector-env backend: gymnasium sync/async, mujoco (batched, multi-threaded physics for the
    supported MuJoCo tasks), warp (mujoco-warp worlds on the GPU, extra `gpu`) or atari (ALE's native
    vector env, extra `atari`); auto = atari for Atari ids, mujoco where supported, else sync."""
    env_threads: int = 0
    """Physics threads for the mujoco backend (0 = one per CPU core)."""
    stagger_starts: bool = False
    """Warp backend: start each world at a random point of its episode clock, so episodes end every
    step instead of all at once (a deliberate deviation from gymnasium's reset; the shortened first
    episodes are bootstrapped and left out of the statistics)."""
    normalize_obs: bool = False
    """Normalise observations with running mean/std (clipped to +-10); the statistics are checkpointed."""
    normalize_reward: bool = False
    """Scale rewards by the running std of the discounted return (as gymnasium's NormalizeReward)."""
    checkpoint_every: int = 100_000
    """Write checkpoint.pt (atomically) every this many env steps (e.g. 5e4); always at the end."""
    wandb: Literal["disabled", "offline", "online"] = "disabled"
    """Weights & Biases mode; online falls back to offline when no API key is configured."""
    wandb_project: str = "rlmeta"
    """W&B project name."""
    wandb_group: Optional[str] = None
    """W&B group (default {algo}-{env}, so seeds of one setting are grouped)."""
    wandb_name: Optional[str] = None
    """W&B run name (default {algo}-{env}-s{seed}; sweeps name each trial {sweep}-trial-NNN)."""
    wandb_tags: tuple[str, ...] = ()
    """Extra W&B tags."""
    wandb_job_type: str = "train"
    """W&B job_type (suites use 'bench')."""
    torch_threads: int = 1
    """torch intra-op threads (0 = auto: 2 where 2+ cores are free to this process, else 1); 1 is
    fastest for the on-policy agents' small MLPs and leaves cores for physics."""
    progress: bool = True
    """Show a progress bar (SPS, recent return); off-tty it prints a line every 30 s instead."""
    capture_video: bool = False
    """Record one deterministic-policy episode every `video_every` checkpoints and at the end, as
    RUN_DIR/videos/step-N.mp4 (and a W&B video when W&B is on); needs headless GL (MUJOCO_GL=egl or
    osmesa) and the `video` extra."""
    video_every: int = 1
    """With --capture-video: record at every K-th checkpoint (checkpoint_every env steps apart)."""
    video_size: int = 256
    """With --capture-video: frame width and height in pixels."""

    # ------------------------------------------------------------------ helpers
    def validate(self) -> None:
        """Raise ConfigError with a one-line reason for values that cannot work."""
        if self.total_steps <= 0:
            raise ConfigError(f"--total-steps must be positive, got {self.total_steps}")
        if self.num_envs <= 0:
            raise ConfigError(f"--num-envs must be positive, got {self.num_envs}")
        if self.checkpoint_every <= 0:
            raise ConfigError(f"--checkpoint-every must be positive, got {self.checkpoint_every}")
        if self.video_every <= 0:
            raise ConfigError(f"--video-every must be positive, got {self.video_every}")
        if self.video_size < 16:
            raise ConfigError(f"--video-size must be >= 16, got {self.video_size}")
        if self.env_threads < 0:
            raise ConfigError(f"--env-threads must be >= 0 (0 = one per CPU core), got {self.env_threads}")
        if self.torch_threads < 0:
            raise ConfigError(f"--torch-threads must be >= 0 (0 = auto), got {self.torch_threads}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds}")
        for name in ("torch_threads", "env_threads"):
            if getattr(self, name) > MAX_THREADS:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be at most {MAX_THREADS}, got {getattr(self, name)}"
                )
        self.check_finite()
        check_fits(self.memory_estimate(), self.memory_flags)

    # the settings that size a run's memory, named when it cannot fit (subclasses extend both)
    memory_flags = "--num-envs"

    def memory_estimate(self) -> dict[str, int]:
        """A lower bound of the bytes a run holds, by part, before the env's sizes are known (one
        observation and action dimension assumed): simulators at about 100 KB each on the CPU backends."""
        # an Atari emulator with its frame stacks: about 1 MB; a MuJoCo MjData: about 100 kB
        per_env = 4 * 1024 if self.env_backend == "warp" else (1024 * 1024 if is_atari(self.env) else 100 * 1024)
        return {"environments": self.num_envs * per_env}

    @classmethod
    def presets(cls) -> dict[str, RunConfig]:
        """Named presets; the first one is the default."""
        return {"default": cls()}


def save_config(cfg: RunConfig, path: Path, algo: str) -> None:
    data = {"algo": algo, **cfg.to_dict()}
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False))


def load_config_dict(path: Path) -> dict[str, Any]:
    path = Path(path)
    if path.parent.exists() and not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is a file, not a run directory")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config.json in {path.parent}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"corrupt {path}: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"corrupt {path}: not a mapping of config fields")
    return data
