"""What every meta-training run shares: its config fields (MetaRunConfig) and the trainer protocol
that rlmeta.app.meta_run's loop drives (sine.py and rl.py implement it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional, Protocol

import tyro

from rlmeta.core.config import ConfigBase
from rlmeta.core.errors import ConfigError


@dataclass
class MetaRunConfig(ConfigBase):
    """Fields every meta-training run shares."""

    env: tyro.conf.Suppress[str] = "sine"
    """Task family: the positional argument of `rlmeta meta-train FAMILY` (hidden from the flags)."""
    meta_iterations: int = 1000
    """Outer (meta) updates to run."""
    seed: int = 0
    """Seed for python, numpy, torch, task sampling and environments."""
    run_dir: Optional[str] = None
    """Where config.json, progress.csv, checkpoint.pt and eval.json go (default runs/maml-{env}-s{seed})."""
    resume: Optional[str] = None
    """Continue the run in this directory from its last checkpoint."""
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    """Torch device of the meta-learner (MAML's small MLPs are fastest on CPU)."""
    log_every: int = 10
    """Write a progress.csv row every this many meta-iterations."""
    checkpoint_every: int = 500
    """Write checkpoint.pt (atomically) every this many meta-iterations; always at the end."""
    wandb: Literal["disabled", "offline", "online"] = "disabled"
    """Weights & Biases mode; online falls back to offline when no API key is configured."""
    wandb_project: str = "rlmeta"
    """W&B project name."""
    wandb_group: Optional[str] = None
    """W&B group (default maml-{env})."""
    wandb_tags: tuple[str, ...] = ()
    """Extra W&B tags."""
    wandb_job_type: str = "train"
    """W&B job_type."""
    torch_threads: int = 1
    """torch intra-op threads."""
    progress: bool = True
    """Show a progress bar (off-tty: a line every 30 s)."""

    def validate(self) -> None:
        for name in ("meta_iterations", "log_every", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        self.check_finite()


class Trainer(Protocol):
    """What rlmeta.app.meta_run's session drives (SineTrainer, MetaRLTrainer, a user's family)."""

    global_step: int
    iteration_count: int
    cfg: Any
    lr_fields: ClassVar[dict[str, str]]
    """Learning-rate config fields -> the optimizer attribute they set (a --resume may change them)."""

    def set_learning_rates(self, fields: list[str]) -> None: ...

    def iteration(self) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, d: dict[str, Any]) -> None: ...

    def final_eval(self, run_dir: Path) -> dict[str, float]: ...
