"""Meta-training runs on the shared run session: the sine and meta-RL trainers go through
rlmeta.app.runner's RunSession (one run-dir lock, resume check, config.json, logger, atomic checkpoint
and NaN guard for every kind of run); MetaRunSession sets what differs: the unit of progress is the
meta-iteration, rows are logged every --log-every of them, and the run ends with the trainer's final
evaluation.

A trainer provides `iteration() -> metrics`, `global_step`, `iteration_count`, `cfg`, `lr_fields`,
`set_learning_rates(fields)`, `state_dict()`, `load_state_dict()` and `final_eval(run_dir) -> metrics`
(which also writes its own eval file into the run dir); `close()` and `total_steps` if it has them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from rlmeta.agents.maml.config import MetaRunConfig
from rlmeta.app.runner import CHECKPOINT, RunSession, drive, run_dir_lock, run_dir_of
from rlmeta.core.errors import ConfigError
from rlmeta.core.logger import Logger
from rlmeta.core.seeding import seed_everything, set_torch_threads

__all__ = ["CHECKPOINT", "META_RESUME_FREE", "MetaRunSession", "run_meta_training"]

# fields a --resume may change: they shape no tensor and change no meta-update already made (the final
# evaluation's settings included); learning rates (the trainer's lr_fields) are applied to the optimizer
META_RESUME_FREE = {
    "meta_iterations",
    "log_every",
    "checkpoint_every",
    "resume",
    "run_dir",
    "device",
    "progress",
    "torch_threads",
    "env_threads",
    "vectorize",
    "wandb",
    "wandb_project",
    "wandb_group",
    "wandb_tags",
    "wandb_job_type",
    "eval_tasks",
    "eval_query",
    "eval_rollouts",
    "eval_steps",
    "eval_seed",
}


def run_meta_training(algo: str, cfg: MetaRunConfig, make_trainer: Callable[[Any], Any]) -> Path:
    """Build `make_trainer(cfg)`, resume if asked, train for cfg.meta_iterations, evaluate. -> run dir.
    Same guarantees as rlmeta.app.runner.train (it is the same session): one writer per run dir, nothing
    written before the checkpoint loaded, a NaN/inf stops the run before it is checkpointed."""
    cfg.validate()
    run_dir = run_dir_of(algo, cfg)
    with run_dir_lock(run_dir):
        drive(MetaRunSession(algo, cfg, run_dir, make_trainer))
    return run_dir


class MetaRunSession(RunSession):
    """RunSession for a meta-trainer: progress, --checkpoint-every and the target in meta-iterations."""

    resume_free: ClassVar[set[str]] = META_RESUME_FREE
    cfg: MetaRunConfig  # (RunSession types it as a RunConfig)

    def __init__(self, algo: str, cfg: MetaRunConfig, run_dir: Path, make_trainer: Callable[[Any], Any]):
        super().__init__(algo, cfg, run_dir)
        self.make_trainer = make_trainer

    def build(self) -> Any:
        seed_everything(self.cfg.seed)
        set_torch_threads(self.cfg.torch_threads)
        return self.make_trainer(self.cfg)

    @property
    def position(self) -> int:
        return self.agent.iteration_count

    @property
    def target(self) -> int:
        return self.cfg.meta_iterations

    def check_checkpoint(self, ckpt: dict) -> None:
        saved = (ckpt.get("algo"), ckpt.get("config", {}).get("env"))
        if saved != (self.algo, self.cfg.env):
            raise ConfigError(f"{self.ckpt_path} is a {saved[0]} {saved[1]} checkpoint, not {self.algo} {self.cfg.env}")

    def state(self) -> dict[str, Any]:
        return {"trainer": self.agent.state_dict()}

    def load_state(self, ckpt: dict) -> None:
        self.agent.load_state_dict(ckpt["trainer"])

    def already_done(self) -> bool:
        # iterations done but no `done` marker: the final evaluation did not finish; the run does it now
        if self.position < self.target or not (self.run_dir / "done").exists():
            return False
        print(
            f"rlmeta: {self.run_dir} is already meta-trained to iteration {self.position:,} "
            f"(--meta-iterations {self.target:,}); nothing to do",
            file=sys.stderr,
        )
        return True

    def notes(self, ckpt: dict | None) -> None:
        pass

    def make_recorder(self) -> None:  # meta-training records no videos
        return None

    def make_logger(self, resume_step: int | None) -> Logger:
        cfg = self.cfg
        return Logger(
            self.run_dir,
            self.algo,
            {**cfg.to_dict(), "wandb_group": cfg.wandb_group or f"{self.algo}-{cfg.env}"},
            getattr(self.agent, "total_steps", cfg.meta_iterations),
            resume_step=resume_step,
            wandb_mode=cfg.wandb,
            progress=cfg.progress,
        )

    def annotate(self, metrics: dict, seconds: float, steps: int) -> bool:
        metrics["charts/meta_iteration"] = self.position
        metrics["charts/iteration_time"] = seconds
        return self.position % self.cfg.log_every == 0 or self.position == self.target

    def finish(self) -> None:
        """The final checkpoint, the trainer's final evaluation (logged, and its own file) and `done`."""
        self.checkpoint()
        assert self.logger is not None, "finish() needs an open run"
        self.logger.log(self.agent.global_step, self.agent.final_eval(self.run_dir))
        (self.run_dir / "done").write_text(f"{self.position}\n")

    def close(self) -> None:
        trainer, self.agent = self.agent, None
        super().close()
        if trainer is not None and hasattr(trainer, "close"):
            trainer.close()
