"""Config dataclasses. Every field has a docstring: tyro turns it into `--help` text.

One dataclass per agent, inheriting the shared run fields from `RunConfig` (one level only).
Presets are plain instances of the agent's dataclass, e.g. `PPOConfig.presets()["spinningup"]`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from rlmeta.errors import ConfigError


class ConfigBase:
    """What every config dataclass shares (RunConfig for agents, the meta-training configs):
    dict round trip through config.json, replace, and the finite-float check of validate()."""

    def check_finite(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"--{f.name.replace('_', '-')} must be finite, got {v}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **kw: Any):
        return dataclasses.replace(self, **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown config keys {sorted(unknown)}")
        # JSON has no tuples; restore them for tuple-typed fields.
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass
class RunConfig(ConfigBase):
    """Fields every training run shares (env, budget, seed, devices, logging, checkpoints)."""

    env: str = "HalfCheetah-v5"
    """Gymnasium environment id, e.g. HalfCheetah-v5, Hopper-v5 (continuous agents need a Box action space)."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all parallel envs."""
    seed: int = 0
    """Seed for python, numpy, torch and the environments; a run is reproducible on the same machine."""
    run_dir: Optional[str] = None
    """Where config.json, progress.csv and checkpoint.pt go (default: runs/{algo}-{env}-s{seed})."""
    resume: Optional[str] = None
    """Continue the run in this directory from its last checkpoint (its config.json is the default config)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device for networks and updates; auto picks cuda when available."""
    num_envs: int = 1
    """Parallel environments stepped as one batch."""
    env_backend: Literal["auto", "sync", "async", "mujoco", "warp"] = "auto"
    """Vector-env backend: gymnasium sync/async, mujoco (batched, multi-threaded physics for the
    supported MuJoCo tasks), or warp (mujoco-warp worlds on the GPU, extra `gpu`); auto = mujoco
    where supported, else sync."""
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
    """Write checkpoint.pt (atomically) every this many env steps; always at the end."""
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
    """torch intra-op threads; 1 is fastest for small MLPs on CPU and leaves cores for physics."""
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
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        self.check_finite()

    @classmethod
    def presets(cls) -> dict[str, "RunConfig"]:
        """Named presets; the first one is the default."""
        return {"default": cls()}


def save_config(cfg: RunConfig, path: Path, algo: str) -> None:
    data = {"algo": algo, **cfg.to_dict()}
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False))
    tmp.replace(path)


def load_config_dict(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config.json in {Path(path).parent}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"corrupt {path}: {e}") from None
