"""The training loop every agent shares: build -> (resume) -> iterate -> log -> checkpoint.

Example:
    >>> from rlmeta.runner import train
    >>> from agents.pg.ppo import PPOConfig
    >>> run_dir = train("ppo", PPOConfig(env="Hopper-v5", total_steps=20_000, run_dir="runs/demo"))

Hooks: `callback(global_step, metrics)` after every iteration (sweeps report intermediate returns
through it and may raise to stop the run, e.g. optuna.TrialPruned); with `cfg.capture_video` one
deterministic episode is recorded at every `video_every`-th checkpoint and at the end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import torch

from rlmeta.checkpoint import load_checkpoint, save_checkpoint
from rlmeta.config import RunConfig, save_config
from rlmeta.errors import ConfigError
from rlmeta.logger import Logger
from rlmeta.registry import get_agent
from rlmeta.seeding import resolve_device, rng_state, seed_everything, set_rng_state

CHECKPOINT = "checkpoint.pt"
VIDEO_SEED_OFFSET = 2_000_003  # every training video starts from the same state: progress is comparable
IterationCallback = Callable[[int, dict], None]  # (global_step, metrics) -> None


def default_run_dir(algo: str, cfg: RunConfig) -> Path:
    return Path("runs") / f"{algo}-{cfg.env}-s{cfg.seed}"


def is_complete(run_dir: Path) -> bool:
    """True when the run directory holds a checkpoint at or past its total_steps."""
    marker = run_dir / "done"
    return marker.exists()


def build_agent(algo: str, cfg: RunConfig):
    """Seed, build envs and the agent (no logging, no checkpoint); used by train, eval and render."""
    agent_cls = get_agent(algo)
    cfg.validate()
    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, cfg.torch_threads))
    device = resolve_device(cfg.device)
    envs = agent_cls.make_envs(cfg, device)
    try:
        agent = agent_cls(cfg, envs, device)
    except BaseException:
        envs.close()
        raise
    return agent


def train(algo: str, cfg: RunConfig, callback: Optional[IterationCallback] = None) -> Path:
    """Train `algo` with `cfg`; resume from cfg.resume (a run dir) if given. Returns the run dir.

    callback(global_step, metrics) runs after each logged iteration; an exception it raises ends
    the run (logger and envs are closed; the last checkpoint stays, no `done` marker)."""
    run_dir = Path(cfg.resume or cfg.run_dir or default_run_dir(algo, cfg))
    ckpt_path = run_dir / CHECKPOINT
    resuming = cfg.resume is not None
    if resuming and not ckpt_path.exists():
        raise ConfigError(f"--resume {run_dir}: no {CHECKPOINT} there")
    if not resuming and ckpt_path.exists():
        raise ConfigError(f"{run_dir} already holds a run; pass --resume {run_dir} to continue it "
                          "or choose another --run-dir")
    ckpt = load_checkpoint(ckpt_path) if resuming else None  # fail on a corrupt file before any work
    if ckpt is not None and ckpt.get("algo") != algo:
        raise ConfigError(f"{ckpt_path} is a {ckpt.get('algo')} checkpoint, not {algo}")

    recorder = None
    if cfg.capture_video:  # before any file is written: a machine that cannot render fails in one line
        from rlmeta.video import EpisodeRecorder

        recorder = EpisodeRecorder(cfg.env, seed=cfg.seed + VIDEO_SEED_OFFSET, size=cfg.video_size)
    try:
        agent = build_agent(algo, cfg)
    except BaseException:
        if recorder is not None:
            recorder.close()
        raise
    envs = agent.envs
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg.replace(resume=None, run_dir=str(run_dir)), run_dir / "config.json", algo)
    if ckpt is not None:
        agent.load_state_dict(ckpt["agent"])
        envs.load_state_dict(ckpt["env"])
        set_rng_state(ckpt["rng"])
    start = agent.global_step
    logger = Logger(run_dir, algo, cfg.to_dict(), cfg.total_steps, resume_step=start if resuming else None,
                    wandb_mode=cfg.wandb, progress=cfg.progress)

    def checkpoint() -> None:
        save_checkpoint(ckpt_path, {"algo": algo, "config": cfg.to_dict(), "global_step": agent.global_step,
                                    "agent": agent.state_dict(), "env": envs.state_dict(), "rng": rng_state()})

    def record_video() -> None:
        from rlmeta.video import write_mp4

        step = agent.global_step
        frames, ret, length = recorder.record(lambda obs: agent.act(obs, True), envs.normalize,
                                              seed=cfg.seed + VIDEO_SEED_OFFSET)
        path = write_mp4(frames, run_dir / "videos" / f"step-{step:09d}.mp4", recorder.fps)
        if logger.wandb is not None:
            import wandb

            logger.wandb.log({"global_step": step, "videos/episode": wandb.Video(str(path), format="mp4"),
                              "videos/return": ret, "videos/length": length})

    next_ckpt = (start // cfg.checkpoint_every + 1) * cfg.checkpoint_every
    last_video = -1
    try:
        while agent.global_step < cfg.total_steps:
            t0, s0 = time.perf_counter(), agent.global_step
            metrics = agent.iteration()
            metrics["charts/SPS"] = (agent.global_step - s0) / max(time.perf_counter() - t0, 1e-9)
            logger.log(agent.global_step, metrics)
            if callback is not None:
                callback(agent.global_step, metrics)
            if agent.global_step >= next_ckpt:
                checkpoint()
                # boundaries prev_k+1..k crossed (one iteration may cross several); k depends only on
                # the step, so a resumed run keeps the cadence
                prev_k, k = next_ckpt // cfg.checkpoint_every - 1, agent.global_step // cfg.checkpoint_every
                if recorder is not None and k // cfg.video_every > prev_k // cfg.video_every:
                    record_video()
                    last_video = agent.global_step
                next_ckpt = (k + 1) * cfg.checkpoint_every
        checkpoint()
        if recorder is not None and last_video != agent.global_step:
            record_video()
        (run_dir / "done").write_text(f"{agent.global_step}\n")
    finally:
        logger.close()
        envs.close()
        if recorder is not None:
            recorder.close()
    return run_dir
