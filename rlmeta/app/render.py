"""`rlmeta render RUN_DIR`: re-render a checkpointed policy to mp4 (and GIF); board-game runs print
their games as text. Recording itself lives in rlmeta.core.recording."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import tyro

from rlmeta.app.cli import parse_command
from rlmeta.app.registry import get_agent
from rlmeta.core.config import SEED_LIMIT, load_config_dict
from rlmeta.core.errors import ConfigError
from rlmeta.core.recording import EpisodeRecorder, require_video, write_gif, write_mp4


# --------------------------------------------------------------------------- rlmeta render
def load_trained(run_dir: Path, agent: str | None = None, **overrides: Any) -> tuple[Any, Any, dict]:
    """The agent of run_dir with its checkpointed weights and observation statistics (not its envs'
    simulator state), built from its config.json with `overrides` (e.g. device="cpu"), W&B off.
    -> (agent, config, checkpoint). `agent`: the run's `module:Class` when it was trained as one; rlmeta
    imports a module only when it is named here, never because a run dir's files name it."""
    from rlmeta.app.runner import CHECKPOINT, build_agent
    from rlmeta.core.checkpoint import load_checkpoint

    saved = load_config_dict(run_dir / "config.json")
    algo = saved.pop("algo", None)
    if algo is None:
        raise ConfigError(f"{run_dir}/config.json names no algo")
    ckpt = load_checkpoint(run_dir / CHECKPOINT)
    if agent is not None and agent != algo:
        raise ConfigError(f"{run_dir} is a {algo} run, not {agent}")
    agent_cls = get_agent(algo, named_in=None if agent else f"{run_dir}/config.json")
    cfg = agent_cls.Config.from_dict(saved).replace(resume=None, wandb="disabled", **overrides)
    trained = build_agent(algo, cfg)
    try:
        trained.load_state_dict(ckpt["agent"])
        trained.envs.obs_rms.load_state_dict(ckpt["env"]["obs_rms"])
    except BaseException:
        trained.envs.close()
        raise
    return trained, cfg, ckpt


def render_run(
    run_dir: str | Path,
    episodes: int = 1,
    out: str | Path | None = None,
    gif: bool = False,
    size: int = 480,
    seed: int | None = None,
    device: str = "auto",
    agent: str | None = None,
) -> list[Path]:
    """Render the checkpointed policy of run_dir: `episodes` episodes in one mp4 (+ a GIF).

    Example:
        >>> render_run("runs/ppo-Hopper-v5-s0", episodes=2, gif=True)
        [PosixPath('runs/ppo-Hopper-v5-s0/videos/render-step1000000.mp4'), PosixPath('...gif')]
    """

    # torch and the agents: imported once the command line is known good (`rlmeta render` answers a
    # bad call at once)
    from rlmeta.envs.atari import recording_env

    run_dir = Path(run_dir)
    trained, cfg, ckpt = load_trained(run_dir, agent, device=device)
    try:
        rec = EpisodeRecorder(
            cfg.env, seed=cfg.seed + 3_000_017 if seed is None else seed, size=size, make_env=recording_env(cfg.env)
        )
        try:
            clips = []
            for k in range(episodes):
                frames, ret, length = rec.record(lambda o: trained.act(o, True), trained.envs.normalize)
                print(f"episode {k}: return {ret:.1f}, length {length}")
                clips.append(frames)
            fps = rec.fps
        finally:
            rec.close()
    finally:
        trained.envs.close()
    frames = np.concatenate(clips)
    out = Path(out) if out else run_dir / "videos" / f"render-step{ckpt['global_step']}.mp4"
    paths = [write_mp4(frames, out.with_suffix(".mp4"), fps)]
    if gif:
        paths.append(write_gif(frames, out.with_suffix(".gif"), fps))
    return paths


@dataclass
class RenderArgs:
    """`rlmeta render RUN_DIR [FLAGS]`."""

    run_dir: tyro.conf.Positional[str] = tyro.MISSING
    """A run directory holding config.json and checkpoint.pt."""
    episodes: int = 1
    """Episodes (or games) to render, one after another."""
    out: Optional[str] = None
    """Output file (default RUN_DIR/videos/render-stepN.mp4; for board games a .txt, default: print only)."""
    gif: bool = False
    """Also write a small GIF next to the mp4."""
    size: int = 480
    """Frame width and height in pixels."""
    seed: Optional[int] = None
    """Seed of the first episode (default: run seed + 3000017)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Torch device of the policy."""
    agent: Optional[str] = None
    """The run's own agent class (MODULE:CLASS), when it was trained as `rlmeta train MODULE:CLASS`: rlmeta imports a module only when you name it here, never because a run dir's files name it."""


def cmd_render(args: list[str]) -> int:
    """`rlmeta render RUN_DIR [--episodes N] [--out FILE] [--gif] [--size PX] [--seed S]`."""
    a = parse_command(
        RenderArgs,
        args,
        "rlmeta render",
        "Render a checkpointed policy to mp4 (and GIF); board-game runs print their games as text.",
    )
    if a.episodes <= 0:
        raise ConfigError(f"--episodes must be positive, got {a.episodes}")
    if a.size < 16:
        raise ConfigError(f"--size must be >= 16, got {a.size}")

    if a.seed is not None and not 0 <= a.seed < SEED_LIMIT:
        raise ConfigError(f"--seed must be in [0, 2**32 - 1], got {a.seed}")

    algo = load_config_dict(Path(a.run_dir) / "config.json").get("algo")
    if algo == "alphazero":
        from rlmeta.app.boardgames import render_game

        text = render_game(a.run_dir, a.episodes)
        print(text)
        if a.out:
            Path(a.out).write_text(text)
        return 0
    require_video()
    # an unwritable output folder fails now (one line from the CLI's OSError handler), not after rendering
    folder = Path(a.out).parent if a.out else Path(a.run_dir) / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
    for path in render_run(a.run_dir, a.episodes, a.out, a.gif, a.size, a.seed, a.device, a.agent):
        print(f"rlmeta: wrote {path}")
    return 0
