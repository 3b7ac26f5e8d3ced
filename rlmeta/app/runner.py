"""The training loop every agent shares: build -> (resume) -> iterate -> log -> checkpoint.

Example:
    >>> from rlmeta.app.runner import train
    >>> from rlmeta.agents.onpolicy.ppo import PPOConfig
    >>> run_dir = train("ppo", PPOConfig(env="Hopper-v5", total_steps=20_000, run_dir="runs/demo"))

Hooks: `callback(global_step, metrics)` after every iteration (sweeps report intermediate returns
through it and may raise to stop the run, e.g. optuna.TrialPruned); with `cfg.capture_video` one
deterministic episode is recorded at every `video_every`-th checkpoint and at the end.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Optional

import torch
from torch import nn

from rlmeta.app.registry import get_agent
from rlmeta.core.checkpoint import load_checkpoint, save_checkpoint
from rlmeta.core.config import RunConfig, save_config
from rlmeta.core.env_ids import run_name
from rlmeta.core.errors import ConfigError
from rlmeta.core.logger import Logger, read_progress
from rlmeta.core.recording import EpisodeRecorder, write_mp4
from rlmeta.core.seeding import resolve_device, rng_state, seed_everything, set_rng_state, set_torch_threads
from rlmeta.envs.atari import recording_env

CHECKPOINT = "checkpoint.pt"
VIDEO_SEED_OFFSET = 2_000_003  # every training video starts from the same state: progress is comparable
IterationCallback = Callable[[int, dict], None]  # (global_step, metrics) -> None


def default_run_dir(algo: str, cfg: RunConfig) -> Path:
    return Path("runs") / run_name(algo, cfg.env, cfg.seed)


def is_complete(run_dir: Path) -> bool:
    """True when the run directory holds a checkpoint at or past its total_steps."""
    marker = run_dir / "done"
    return marker.exists()


def build_agent(algo: str, cfg: RunConfig):
    """Seed, build envs and the agent (no logging, no checkpoint); used by train, eval and render."""
    agent_cls = get_agent(algo)
    cfg.validate()
    seed_everything(cfg.seed)
    set_torch_threads(cfg.torch_threads)
    device = resolve_device(cfg.device)
    envs = agent_cls.make_envs(cfg, device)
    try:
        agent = agent_cls(cfg, envs, device)
    except BaseException:
        envs.close()
        raise
    return agent


class _NothingToDo(Exception):
    """--resume of a run that already reached its total_steps: leave every file as it is."""


class NonFiniteError(ConfigError):
    """A loss, metric or parameter became NaN/inf: the run stops before it can checkpoint it."""


# fields a --resume may change although the checkpoint was made with other values: they shape no tensor
RESUME_FREE = {
    "seeds",
    "total_steps",
    "checkpoint_every",
    "resume",
    "run_dir",
    "device",
    "progress",
    "torch_threads",
    "env_threads",
    "compile",
    "capture_video",
    "video_every",
    "video_size",
    "wandb",
    "wandb_project",
    "wandb_group",
    "wandb_name",
    "wandb_tags",
    "wandb_job_type",
}


@contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """One writer per run directory: an exclusive OS lock (flock) on RUN_DIR/.lock for the whole run.
    The OS drops it when the process dies, so a killed run never leaves a stale lock.

    A run directory may come from someone else (a shared tarball): the lock never follows a symbolic
    link, and it writes its pid only into a regular file with no other name (a hard link to a file
    elsewhere would otherwise be overwritten); anything else there is refused in one line."""
    created = not run_dir.exists()
    lock = run_dir / ".lock"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a symlinked .lock fails (ELOOP) instead of opening its target; O_NONBLOCK: a FIFO
        # planted as .lock cannot hang the open
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP or lock.is_symlink():
            raise ConfigError(
                f"{lock} is a symbolic link; rlmeta does not follow it (remove it if you trust this run dir)"
            ) from None
        raise ConfigError(f"cannot use run dir {run_dir}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            what = (
                "not a regular file"
                if not stat.S_ISREG(st.st_mode)
                else f"a file with {st.st_nlink} names (a hard link)"
            )
            raise ConfigError(f"{lock} is {what}; rlmeta does not write to it (remove it if you trust this run dir)")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(
                f"{run_dir} is in use by another rlmeta process (pid {pid}); one run per run dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    except BaseException:
        if created and {p.name for p in run_dir.iterdir()} <= {".lock"}:  # failed before writing anything
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def nonfinite_modules(owner: object) -> list[str]:
    """Names of the nn.Module attributes of `owner` holding a NaN/inf parameter (one host sync)."""
    mods = {k: v for k, v in vars(owner).items() if isinstance(v, nn.Module) and any(True for _ in v.parameters())}
    if not mods:
        return []
    ok = torch.stack(
        [torch.stack([p.detach().isfinite().all() for p in m.parameters()]).all().cpu() for m in mods.values()]
    ).tolist()
    return [name for name, good in zip(mods, ok) if not good]


MAX_KL = 1e3  # nats: a policy update's KL is below 1 in any working run
MAX_LOSS = 1e12  # |loss|: value losses of large-return tasks stay many orders below this


def check_finite(owner: object, metrics: dict[str, float], step: int, last_good: int | None) -> None:
    """Raise NonFiniteError when a metric or a parameter of `owner` (an agent, a meta-trainer) is
    NaN/inf: the runners call it after every iteration, before anything can be checkpointed."""
    bad = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not math.isfinite(v)]
    bad += [f"parameters of {m}" for m in nonfinite_modules(owner)]
    # finite but diverged: a KL or a loss far outside any range a working run reaches (a PPO resumed at
    # lr 1e10 showed KL 3.9e9 and policy loss 4.5e21 one iteration before its numbers overflowed)
    diverged = [
        f"{k} = {v:.3g}"
        for k, v in metrics.items()
        if isinstance(v, (int, float))
        and math.isfinite(v)
        and ((k.endswith("approx_kl") and v > MAX_KL) or (k.startswith("losses/") and abs(v) > MAX_LOSS))
    ]
    if diverged and not bad:
        kept = (
            f"the last good checkpoint (step {last_good:,}) is kept"
            if last_good is not None
            else "no checkpoint was written"
        )
        raise NonFiniteError(
            f"training diverged at step {step:,} ({', '.join(diverged[:3])}); the run stopped and "
            f"{kept} (try lower learning rates)"
        )
    if bad:
        kept = (
            f"the last good checkpoint (step {last_good:,}) is kept"
            if last_good is not None
            else "no checkpoint was written"
        )
        raise NonFiniteError(
            f"non-finite {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''} at step "
            f"{step:,}; the run stopped and {kept} (try lower learning rates)"
        )


def resume_overrides(saved: dict, cfg: Any, agent: Any, free: set[str] = RESUME_FREE) -> list[str]:
    """Fields of cfg that differ from the checkpoint's config. Learning rates (agent.lr_fields) are
    applied to the optimizers; the shape-free fields `free` just take effect; anything else is refused
    in one line."""
    now = cfg.to_dict()
    changed = [k for k in now if k in saved and _norm(saved[k]) != _norm(now[k])]
    refused = [k for k in changed if k not in free and k not in agent.lr_fields]
    if refused:
        desc = ", ".join(f"--{k.replace('_', '-')} {_norm(saved[k])} -> {_norm(now[k])}" for k in refused)
        raise ConfigError(
            f"--resume cannot change {desc}: the checkpoint was trained with the old values (start a new run instead)"
        )
    return changed


def _norm(v):
    return tuple(v) if isinstance(v, list) else v


def train(algo: str, cfg: RunConfig, callback: Optional[IterationCallback] = None) -> Path:
    """Train `algo` with `cfg`; resume from cfg.resume (a run dir) if given. Returns the run dir.

    Everything is validated (checkpoint digest, config overrides, the agent loading it) before
    anything in the run directory is written, so a failed --resume leaves the run as it was.
    callback(global_step, metrics) runs after each logged iteration; an exception it raises ends
    the run (logger and envs are closed; the last checkpoint stays, no `done` marker)."""
    run_dir = run_dir_of(algo, cfg)
    with run_dir_lock(run_dir):
        drive(RunSession(algo, cfg, run_dir, callback))
    return run_dir


def drive(run: RunSession) -> None:
    """Open the run, iterate its agent until run.position reaches run.target, finish, close: the loop of
    `train` and of meta-training (rlmeta.app.meta_run), the caller holding the run dir's lock."""
    if not run.open():
        return
    agent = run.agent
    try:
        while run.position < run.target:
            t0, s0 = time.perf_counter(), agent.global_step
            metrics = agent.iteration()
            run.log(metrics, time.perf_counter() - t0, agent.global_step - s0)
        run.finish()
    finally:
        run.close()


def run_dir_of(algo: str, cfg: RunConfig) -> Path:
    """The run directory of cfg: --resume, else --run-dir, else runs/{algo}-{env}-s{seed}."""
    run_dir = Path(cfg.resume or cfg.run_dir or default_run_dir(algo, cfg))
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run dir {run_dir} is a file")
    return run_dir


class RunSession:
    """One run directory's life around an agent: resume checks, config.json, the logger, periodic
    checkpoints and videos, the NaN guard and the `done` marker. `train` drives one agent through
    it; rlmeta.app.multiseed drives K sessions (one per seed) in lockstep; meta-training drives a
    meta-trainer through a subclass (rlmeta.app.meta_run.MetaRunSession) that overrides the hooks
    below. The caller holds the lock.

    Example:
        >>> run = RunSession("sac", cfg, run_dir, None)
        >>> if run.open():                       # False: a resumed run that is already finished
        ...     metrics = run.agent.iteration(); run.log(metrics, seconds, steps); ...; run.finish(); run.close()
    """

    resume_free: ClassVar[set[str]] = RESUME_FREE
    """Config fields a --resume may change besides the agent's learning rates (lr_fields)."""

    def __init__(self, algo: str, cfg: RunConfig, run_dir: Path, callback: Optional[IterationCallback] = None):
        self.algo, self.cfg, self.run_dir, self.callback = algo, cfg, run_dir, callback
        self.ckpt_path = run_dir / CHECKPOINT
        # the agent and its envs are typed Any: the runner drives any class with the Agent interface
        # (a `module:Class` of the user's included), whose envs may be a VecEnv or a board game
        self.agent: Any = None
        self.envs: Any = None
        self.logger: Logger | None = None
        self.recorder: EpisodeRecorder | None = None
        self.last_good: int | None = None
        self.last_video = -1
        self.next_ckpt = 0

    # ------------------------------------------------------------------ what a kind of run sets
    def build(self) -> Any:
        """The agent (seeding the global RNGs with cfg.seed), its envs in self.envs."""
        agent = build_agent(self.algo, self.cfg)
        self.envs = agent.envs
        return agent

    @property
    def position(self) -> int:
        """Where the run is, in the unit of `target` and cfg.checkpoint_every: env steps."""
        return self.agent.global_step

    @property
    def target(self) -> int:
        return self.cfg.total_steps

    def check_checkpoint(self, ckpt: dict) -> None:
        """Refuse, in one line, a checkpoint of another kind of run."""
        if ckpt.get("algo") != self.algo:
            raise ConfigError(f"{self.ckpt_path} is a {ckpt.get('algo')} checkpoint, not {self.algo}")

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds besides algo, config and the RNG states."""
        return {"global_step": self.agent.global_step, "agent": self.agent.state_dict(), "env": self.envs.state_dict()}

    def load_state(self, ckpt: dict) -> None:
        self.agent.load_state_dict(ckpt["agent"])
        self.envs.load_state_dict(ckpt["env"])

    def already_done(self) -> bool:
        """A resumed run with nothing left to do (its files are left as they are)."""
        if self.position < self.target:
            return False
        print(
            f"rlmeta: {self.run_dir} is already trained to step {self.position:,} (--total-steps "
            f"{self.target:,}); nothing to do",
            file=sys.stderr,
        )
        return True

    def notes(self, ckpt: dict | None) -> None:
        """One-line notes on what the run will do differently from what was asked."""
        agent, cfg = self.agent, self.cfg
        if (
            ckpt is not None
            and isinstance(ckpt["env"], dict)
            and "obs_rms" in ckpt["env"]
            and "backend" not in ckpt["env"]
            and agent.global_step < cfg.total_steps
        ):
            # (e.g. ALE's native vector env, gymnasium MuJoCo envs: no way to save their state)
            print(
                f"rlmeta: note: {cfg.env}'s env backend cannot save its simulator state; the resumed run "
                "starts new episodes (agent, optimizers, normalisers and RNG resume exactly)",
                file=sys.stderr,
            )
        k = agent.steps_per_iteration
        if k and cfg.total_steps % k:
            print(
                f"rlmeta: note: {self.algo} takes {k:,} env steps per iteration, so training stops at step "
                f"{-(-cfg.total_steps // k) * k:,} (--total-steps {cfg.total_steps:,} rounded up to whole iterations)",
                file=sys.stderr,
            )

    def make_recorder(self) -> EpisodeRecorder | None:
        """The recorder of --capture-video's episodes (None without it)."""
        cfg = self.cfg
        if not cfg.capture_video:
            return None
        return EpisodeRecorder(
            cfg.env, seed=cfg.seed + VIDEO_SEED_OFFSET, size=cfg.video_size, make_env=recording_env(cfg.env)
        )

    def make_logger(self, resume_step: int | None) -> Logger:
        cfg = self.cfg
        return Logger(
            self.run_dir,
            self.algo,
            cfg.to_dict(),
            cfg.total_steps,
            resume_step=resume_step,
            wandb_mode=cfg.wandb,
            progress=cfg.progress,
        )

    def annotate(self, metrics: dict, seconds: float, steps: int) -> bool:
        """Add the run's own columns to an iteration's metrics. -> whether this iteration is logged."""
        metrics["charts/SPS"] = steps / max(seconds, 1e-9)
        return True

    # ------------------------------------------------------------------ the life of a run
    def open(self) -> bool:
        """Build the agent, load the checkpoint on --resume (RNG states included), write config.json,
        start the logger. -> False when a resumed run is already done (nothing is written then and
        everything is closed)."""
        algo, cfg, run_dir, ckpt_path = self.algo, self.cfg, self.run_dir, self.ckpt_path
        resuming = cfg.resume is not None
        if resuming and not ckpt_path.exists():
            raise ConfigError(f"--resume {run_dir}: no {CHECKPOINT} there")
        if not resuming and ckpt_path.exists():
            raise ConfigError(
                f"{run_dir} already holds a run; pass --resume {run_dir} to continue it or choose another --run-dir"
            )
        ckpt = load_checkpoint(ckpt_path) if resuming else None  # fail on a corrupt file before any work
        if ckpt is not None:
            self.check_checkpoint(ckpt)

        self.recorder = self.make_recorder()  # before any file is written: a machine that cannot render fails here
        try:
            self.agent = agent = self.build()
        except BaseException:
            self.close()
            raise
        try:
            if ckpt is not None:
                changed = resume_overrides(ckpt["config"], cfg, agent, self.resume_free)
                try:
                    self.load_state(ckpt)
                except (RuntimeError, ValueError, KeyError, IndexError) as e:
                    raise ConfigError(
                        f"--resume {run_dir}: the checkpoint does not fit this agent "
                        f"({type(e).__name__}: {str(e).splitlines()[0][:160]})"
                    ) from None
                agent.set_learning_rates([k for k in changed if k in agent.lr_fields])
                set_rng_state(ckpt["rng"])
                if self.already_done():
                    raise _NothingToDo
            self.notes(ckpt)
            if resuming and (run_dir / "progress.csv").exists():
                read_progress(run_dir / "progress.csv", agent.global_step)  # a bad file: one line, nothing written
            save_config(cfg.replace(resume=None, run_dir=str(run_dir)), run_dir / "config.json", algo)
        except BaseException as e:
            self.close()
            if isinstance(e, _NothingToDo):
                return False
            raise
        self.last_good = agent.global_step if ckpt is not None else None
        try:
            self.logger = self.make_logger(agent.global_step if resuming else None)
        except BaseException:
            self.close()
            raise
        self.next_ckpt = (self.position // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        return True

    def checkpoint(self) -> None:
        save_checkpoint(
            self.ckpt_path, {"algo": self.algo, "config": self.cfg.to_dict(), **self.state(), "rng": rng_state()}
        )
        self.last_good = self.agent.global_step

    def record_video(self) -> None:
        agent, recorder, logger = self.agent, self.recorder, self.logger
        assert recorder is not None and logger is not None, "record_video() needs an open run with a recorder"
        step = agent.global_step
        frames, ret, length = recorder.record(
            lambda obs: agent.act(obs, True), self.envs.normalize, seed=self.cfg.seed + VIDEO_SEED_OFFSET
        )
        path = write_mp4(frames, self.run_dir / "videos" / f"step-{step:09d}.mp4", recorder.fps)
        if logger.wandb is not None:
            import wandb

            logger.wandb.log(
                {
                    "global_step": step,
                    "videos/episode": wandb.Video(str(path), format="mp4"),
                    "videos/return": ret,
                    "videos/length": length,
                }
            )
        self.last_video = step

    def log(self, metrics: dict, seconds: float, steps: int) -> None:
        """After one iteration of `steps` env steps that took `seconds`: NaN guard, SPS, logger,
        callback, and the checkpoint (and video) when a checkpoint_every boundary was crossed. The
        global RNGs must hold this run's state (checkpoints save them)."""
        agent, cfg = self.agent, self.cfg
        check_finite(agent, metrics, agent.global_step, self.last_good)
        assert self.logger is not None, "log() needs an open run"
        if self.annotate(metrics, seconds, steps):
            self.logger.log(agent.global_step, metrics)
        if self.callback is not None:
            self.callback(agent.global_step, metrics)
        if self.position >= self.next_ckpt:
            self.checkpoint()
            # boundaries prev_k+1..k crossed (one iteration may cross several); k depends only on
            # the position, so a resumed run keeps the cadence
            prev_k, k = self.next_ckpt // cfg.checkpoint_every - 1, self.position // cfg.checkpoint_every
            if self.recorder is not None and k // cfg.video_every > prev_k // cfg.video_every:
                self.record_video()
            self.next_ckpt = (k + 1) * cfg.checkpoint_every

    def finish(self) -> None:
        """The final checkpoint, video and the `done` marker."""
        self.checkpoint()
        if self.recorder is not None and self.last_video != self.agent.global_step:
            self.record_video()
        (self.run_dir / "done").write_text(f"{self.position}\n")

    def close(self) -> None:
        things: tuple[Any, ...] = (self.logger, self.envs, self.recorder)
        for thing in things:
            if thing is not None:
                thing.close()
        self.logger = self.envs = self.recorder = None
