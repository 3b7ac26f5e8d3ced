"""Environments: gymnasium MuJoCo tasks (gymnasium backends, the batched MuJoCo backend, or
mujoco-warp worlds on a GPU), later meta-RL task families and batched board games.

`make_vec_env` is the single way agents build their environments.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings

import gymnasium as gym
import mujoco
import torch

from rlmeta.core.errors import ConfigError
from rlmeta.core.vec_env import DeviceVecEnv, VecEnv

# MuJoCo's XML compiler warns about a deprecated attribute in gymnasium's own XML files (nothing a
# user can change); the C library prints it on every env construction, so filter that one message.
warnings.filterwarnings("ignore", message=".*settotalmass.*")


def _mujoco_warning(msg: str) -> None:
    if "settotalmass" not in msg:
        print(f"WARNING: {msg}", file=sys.stderr)


if mujoco.get_mju_user_warning() is None:
    mujoco.set_mju_user_warning(_mujoco_warning)


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return the gymnasium spec or raise ConfigError naming close matches."""
    try:
        return gym.spec(env_id)
    except Exception:
        close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown env '{env_id}'{hint}") from None


def action_space_of(env_id: str) -> gym.Space:
    """The action space of one instance of `env_id` (built and closed at once): lets a command check
    that an agent can act in an env before it starts any work (a sweep, before its first trial)."""
    check_env_id(env_id)
    env = gym.make(env_id)
    try:
        return env.action_space
    finally:
        env.close()


def make_vec_env(
    env_id: str,
    num_envs: int = 1,
    seed: int = 0,
    backend: str = "auto",
    threads: int = 0,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    device: str | torch.device | None = None,
    stagger_starts: bool = False,
) -> VecEnv:
    """Build the agent-facing VecEnv for a gymnasium id.

    backend: "atari" (ALE's native vector env, envs/atari.py; the default for Atari ids such as
    BreakoutNoFrameskip-v4 and ALE/Breakout-v5), "sync" / "async" (gymnasium.vector), "mujoco" (batched threads, HalfCheetah-v5 and
    Hopper-v5), "warp" (mujoco-warp worlds on `device`, HalfCheetah-v5 and Hopper-v5; extra `gpu`),
    or "auto" (mujoco where supported, else sync). device: where the warp worlds live (default
    cuda when available, else Warp's CPU device); other backends ignore it. stagger_starts (warp
    only): random initial episode clocks, see DeviceVecEnv._stagger.

    Example:
        >>> envs = make_vec_env("Hopper-v5", num_envs=4096, backend="warp", device="cuda")
    """
    from rlmeta.envs.atari import is_atari
    from rlmeta.envs.gym_backend import GymBackend
    from rlmeta.envs.mujoco.batched import SUPPORTED_TASKS, MujocoBatchBackend

    if is_atari(env_id) and backend in ("auto", "atari"):
        # ALE's native vector env: emulators stepped in C++ threads, preprocessing included
        from rlmeta.envs.atari import AtariBackend

        raw_atari = AtariBackend(env_id, num_envs, threads=threads or min(num_envs, os.cpu_count() or 1))
        return VecEnv(
            raw_atari,
            seed=seed,
            normalize_obs=normalize_obs,
            normalize_reward=normalize_reward,
            gamma=gamma,
            env_id=env_id,
        )
    if backend == "atari":
        raise ConfigError(
            f"--env-backend atari takes Atari ids (BreakoutNoFrameskip-v4, ALE/Breakout-v5), not '{env_id}'"
        )
    check_env_id(env_id)
    if backend == "auto":
        backend = "mujoco" if env_id in SUPPORTED_TASKS else "sync"
    if backend == "warp":
        return _make_warp_env(env_id, num_envs, seed, normalize_obs, normalize_reward, gamma, device, stagger_starts)
    if stagger_starts:
        raise ConfigError(f"--stagger-starts needs --env-backend warp, not '{backend}'")
    if backend == "mujoco":
        if env_id not in SUPPORTED_TASKS:
            raise ConfigError(f"--env-backend mujoco supports {sorted(SUPPORTED_TASKS)}, not '{env_id}'")
        raw = MujocoBatchBackend(env_id, num_envs, threads=threads or (os.cpu_count() or 1))
    elif backend in ("sync", "async"):
        try:
            raw = GymBackend(env_id, num_envs, asynchronous=backend == "async")
        except gym.error.DependencyNotInstalled as e:
            if "box2d" in str(e).lower() or "pygame" in str(e).lower():  # LunarLander, BipedalWalker, CarRacing
                raise ConfigError(f"env '{env_id}' needs Box2D and pygame: pip install 'rlmeta[box2d]'") from None
            raise ConfigError(f"env '{env_id}' needs a missing dependency: {e}") from None
    else:
        raise ConfigError(f"unknown env backend '{backend}' (choose auto, sync, async, mujoco, warp, atari)")
    return VecEnv(
        raw, seed=seed, normalize_obs=normalize_obs, normalize_reward=normalize_reward, gamma=gamma, env_id=env_id
    )


def _make_warp_env(
    env_id: str,
    num_envs: int,
    seed: int,
    normalize_obs: bool,
    normalize_reward: bool,
    gamma: float,
    device: str | torch.device | None,
    stagger_starts: bool = False,
) -> DeviceVecEnv:
    from rlmeta.envs.mujoco import WARP_TASKS

    if env_id not in WARP_TASKS:
        raise ConfigError(f"--env-backend warp supports {list(WARP_TASKS)}, not '{env_id}'")
    try:
        from rlmeta.envs.mujoco.warp_backend import WarpBackend
    except ImportError as e:
        raise ConfigError(
            f"--env-backend warp needs mujoco-warp and warp-lang (pip install 'rlmeta[gpu]'): {e}"
        ) from None
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"--env-backend warp runs on cpu or cuda, not '{dev}'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--env-backend warp on cuda requested but torch.cuda.is_available() is False")
    raw = WarpBackend(env_id, num_envs, device=dev)
    return DeviceVecEnv(
        raw,
        stagger_starts=stagger_starts,
        seed=seed,
        normalize_obs=normalize_obs,
        normalize_reward=normalize_reward,
        gamma=gamma,
        env_id=env_id,
    )
