"""The training loop every agent shares: build -> (resume) -> iterate -> log -> checkpoint.

Example:
    >>> from rlmeta.runner import train
    >>> from agents.pg.ppo import PPOConfig
    >>> run_dir = train("ppo", PPOConfig(env="Hopper-v5", total_steps=20_000, run_dir="runs/demo"))
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from rlmeta.checkpoint import load_checkpoint, save_checkpoint
from rlmeta.config import RunConfig, save_config
from rlmeta.errors import ConfigError
from rlmeta.logger import Logger
from rlmeta.registry import get_agent
from rlmeta.seeding import resolve_device, rng_state, seed_everything, set_rng_state

CHECKPOINT = "checkpoint.pt"


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


def train(algo: str, cfg: RunConfig) -> Path:
    """Train `algo` with `cfg`; resume from cfg.resume (a run dir) if given. Returns the run dir."""
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

    agent = build_agent(algo, cfg)
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

    next_ckpt = (start // cfg.checkpoint_every + 1) * cfg.checkpoint_every
    try:
        while agent.global_step < cfg.total_steps:
            t0, s0 = time.perf_counter(), agent.global_step
            metrics = agent.iteration()
            metrics["charts/SPS"] = (agent.global_step - s0) / max(time.perf_counter() - t0, 1e-9)
            logger.log(agent.global_step, metrics)
            if agent.global_step >= next_ckpt:
                checkpoint()
                next_ckpt = (agent.global_step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        checkpoint()
        (run_dir / "done").write_text(f"{agent.global_step}\n")
    finally:
        logger.close()
        envs.close()
    return run_dir
