"""The meta-training loop shared by the sine and meta-RL trainers: config -> (resume) -> iterate ->
log (console, progress.csv, W&B via rlmeta.core.logger.Logger) -> atomic checkpoint -> final evaluation.

A trainer provides `iteration() -> metrics`, `global_step`, `state_dict()`, `load_state_dict()` and
`final_eval(run_dir) -> metrics` (which also writes its own eval file into the run dir).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from rlmeta.agents.maml.config import MetaRunConfig
from rlmeta.app.runner import check_finite, run_dir_lock
from rlmeta.core.checkpoint import load_checkpoint, save_checkpoint
from rlmeta.core.config import save_config
from rlmeta.core.errors import ConfigError
from rlmeta.core.logger import Logger
from rlmeta.core.seeding import rng_state, seed_everything, set_rng_state, set_torch_threads

CHECKPOINT = "checkpoint.pt"
# fields a --resume may change: they shape no tensor and change no meta-update already made (the final
# evaluation's settings included); learning rates (META_LR_FIELDS) are applied to the optimizer
META_RESUME_FREE = {"meta_iterations", "log_every", "checkpoint_every", "resume", "run_dir", "device", "progress",
                    "torch_threads", "env_threads", "vectorize", "wandb", "wandb_project", "wandb_group", "wandb_tags",
                    "wandb_job_type", "eval_tasks", "eval_query", "eval_rollouts", "eval_steps", "eval_seed"}
META_LR_FIELDS = {"meta_lr": "optimizer"}  # config field -> the trainer's torch optimizer


def run_meta_training(algo: str, cfg: MetaRunConfig, make_trainer) -> Path:
    """Build `make_trainer(cfg)`, resume if asked, train for cfg.meta_iterations, evaluate. -> run dir.
    Same guarantees as rlmeta.runner.train: one writer per run dir, nothing written before the
    checkpoint loaded, a NaN/inf stops the run before it is checkpointed."""
    cfg.validate()
    run_dir = Path(cfg.resume or cfg.run_dir or Path("runs") / f"{algo}-{cfg.env}-s{cfg.seed}")
    with run_dir_lock(run_dir):
        return _run_locked(algo, cfg, make_trainer, run_dir)


def resume_changes(saved: dict, cfg: MetaRunConfig) -> list[str]:
    """Fields of cfg that differ from the checkpoint's config; refused in one line, in `rlmeta train
    --resume`'s words, unless they may change (META_RESUME_FREE, META_LR_FIELDS)."""
    now = cfg.to_dict()
    norm = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731 (json lists vs tuples)
    changed = [k for k in now if k in saved and norm(saved[k]) != norm(now[k])]
    refused = [k for k in changed if k not in META_RESUME_FREE and k not in META_LR_FIELDS]
    if refused:
        desc = ", ".join(f"--{k.replace('_', '-')} {norm(saved[k])} -> {norm(now[k])}" for k in refused)
        raise ConfigError(f"--resume cannot change {desc}: the checkpoint was trained with the old values "
                          "(start a new run instead)")
    return changed


def _run_locked(algo: str, cfg: MetaRunConfig, make_trainer, run_dir: Path) -> Path:
    ckpt_path = run_dir / CHECKPOINT
    if cfg.resume is None and ckpt_path.exists():
        raise ConfigError(f"{run_dir} already holds a run; pass --resume {run_dir} or choose another --run-dir")
    ckpt = load_checkpoint(ckpt_path) if cfg.resume is not None else None  # fail on a corrupt file before any work
    if ckpt is not None and (ckpt.get("algo"), ckpt.get("config", {}).get("env")) != (algo, cfg.env):
        raise ConfigError(f"{ckpt_path} is a {ckpt.get('algo')} {ckpt.get('config', {}).get('env')} checkpoint, "
                          f"not {algo} {cfg.env}")
    changed = resume_changes(ckpt["config"], cfg) if ckpt is not None else []
    seed_everything(cfg.seed)
    set_torch_threads(cfg.torch_threads)
    trainer = make_trainer(cfg)
    if ckpt is not None:
        try:
            trainer.load_state_dict(ckpt["trainer"])
        except (RuntimeError, ValueError, KeyError, IndexError) as e:
            raise ConfigError(f"--resume {run_dir}: the checkpoint does not fit this configuration "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:160]})") from None
        for field in changed:  # a checkpoint restores the saved rates, which would otherwise silently win
            if field in META_LR_FIELDS and isinstance(opt := getattr(trainer, META_LR_FIELDS[field], None),
                                                      torch.optim.Optimizer):
                for group in opt.param_groups:
                    group["lr"] = float(getattr(cfg, field))
        set_rng_state(ckpt["rng"])
        if trainer.iteration_count >= cfg.meta_iterations and (run_dir / "done").exists():
            print(f"rlmeta: {run_dir} is already meta-trained to iteration {trainer.iteration_count:,} "
                  f"(--meta-iterations {cfg.meta_iterations:,}); nothing to do", file=sys.stderr)
            if hasattr(trainer, "close"):
                trainer.close()
            return run_dir
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
