"""The meta-training loop shared by the sine and meta-RL trainers: config -> (resume) -> iterate ->
log (console, progress.csv, W&B via rlmeta.logger.Logger) -> atomic checkpoint -> final evaluation.

A trainer provides `iteration() -> metrics`, `global_step`, `state_dict()`, `load_state_dict()` and
`final_eval(run_dir) -> metrics` (which also writes its own eval file into the run dir).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Protocol

import torch
import tyro

from rlmeta.checkpoint import load_checkpoint, save_checkpoint
from rlmeta.config import ConfigBase, save_config
from rlmeta.errors import ConfigError
from rlmeta.logger import Logger
from rlmeta.runner import check_finite, run_dir_lock
from rlmeta.seeding import rng_state, seed_everything, set_rng_state, set_torch_threads

CHECKPOINT = "checkpoint.pt"


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
    global_step: int
    iteration_count: int

    def iteration(self) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, d: dict[str, Any]) -> None: ...

    def final_eval(self, run_dir: Path) -> dict[str, float]: ...


def run_meta_training(algo: str, cfg: MetaRunConfig, make_trainer) -> Path:
    """Build `make_trainer(cfg)`, resume if asked, train for cfg.meta_iterations, evaluate. -> run dir.
    Same guarantees as rlmeta.runner.train: one writer per run dir, nothing written before the
    checkpoint loaded, a NaN/inf stops the run before it is checkpointed."""
    cfg.validate()
    run_dir = Path(cfg.resume or cfg.run_dir or Path("runs") / f"{algo}-{cfg.env}-s{cfg.seed}")
    with run_dir_lock(run_dir):
        return _run_locked(algo, cfg, make_trainer, run_dir)


def _run_locked(algo: str, cfg: MetaRunConfig, make_trainer, run_dir: Path) -> Path:
    ckpt_path = run_dir / CHECKPOINT
    if cfg.resume is None and ckpt_path.exists():
        raise ConfigError(f"{run_dir} already holds a run; pass --resume {run_dir} or choose another --run-dir")
    ckpt = load_checkpoint(ckpt_path) if cfg.resume is not None else None  # fail on a corrupt file before any work
    if ckpt is not None and (ckpt.get("algo"), ckpt.get("config", {}).get("env")) != (algo, cfg.env):
        raise ConfigError(f"{ckpt_path} is a {ckpt.get('algo')} {ckpt.get('config', {}).get('env')} checkpoint, "
                          f"not {algo} {cfg.env}")
    seed_everything(cfg.seed)
    set_torch_threads(cfg.torch_threads)
    trainer = make_trainer(cfg)
    if ckpt is not None:
        try:
            trainer.load_state_dict(ckpt["trainer"])
        except (RuntimeError, ValueError, KeyError, IndexError) as e:
            raise ConfigError(f"--resume {run_dir}: the checkpoint does not fit this configuration "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
        set_rng_state(ckpt["rng"])
    save_config(cfg.replace(resume=None, run_dir=str(run_dir)), run_dir / "config.json", algo)
    last_good = trainer.global_step if ckpt is not None else None
    logger = Logger(run_dir, algo, {**cfg.to_dict(), "wandb_group": cfg.wandb_group or f"{algo}-{cfg.env}"},
                    getattr(trainer, "total_steps", cfg.meta_iterations), resume_step=trainer.global_step if ckpt is not None else None,
                    wandb_mode=cfg.wandb, progress=cfg.progress)

    def checkpoint() -> None:
        nonlocal last_good
        save_checkpoint(ckpt_path, {"algo": algo, "config": cfg.to_dict(), "trainer": trainer.state_dict(),
                                    "rng": rng_state()})
        last_good = trainer.global_step

    try:
        while trainer.iteration_count < cfg.meta_iterations:
            t0 = time.perf_counter()
            metrics = trainer.iteration()
            check_finite(trainer, metrics, trainer.global_step, last_good)
            metrics["charts/meta_iteration"] = trainer.iteration_count
            metrics["charts/iteration_time"] = time.perf_counter() - t0
            if trainer.iteration_count % cfg.log_every == 0 or trainer.iteration_count == cfg.meta_iterations:
                logger.log(trainer.global_step, metrics)
            if trainer.iteration_count % cfg.checkpoint_every == 0:
                checkpoint()
        checkpoint()
        final = trainer.final_eval(run_dir)
        logger.log(trainer.global_step, final)
        (run_dir / "done").write_text(f"{trainer.iteration_count}\n")
    finally:
        logger.close()
        if hasattr(trainer, "close"):
            trainer.close()
    return run_dir
