"""Meta-RL task families, vectorised across tasks (one task per sub-env); see base.py for the API.

| name        | class          | task                      | horizon |
|-------------|----------------|---------------------------|---------|
| cheetah-vel | HalfCheetahVel | goal velocity ~ U[0, 2]   | 200     |
| cheetah-dir | HalfCheetahDir | direction in {-1, +1}     | 200     |
| ant-dir     | AntDir         | direction in {-1, +1}     | 200     |
| point       | PointGoal      | goal ~ U[-0.5, 0.5]^2     | 100     |
"""

from __future__ import annotations

from envs.meta.base import MetaVecEnv
from rlmeta.errors import ConfigError

FAMILIES = {
    "cheetah-vel": "envs.meta.cheetah:HalfCheetahVel",
    "cheetah-dir": "envs.meta.cheetah:HalfCheetahDir",
    "ant-dir": "envs.meta.ant:AntDir",
    "point": "envs.meta.point:PointGoal",
}


def meta_env_class(name: str) -> type[MetaVecEnv]:
    import importlib

    if name not in FAMILIES:
        raise ConfigError(f"unknown task family '{name}'; choose from {', '.join(FAMILIES)}")
    mod, cls = FAMILIES[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def make_meta_env(name: str, num_envs: int, threads: int = 0) -> MetaVecEnv:
    """Example: env = make_meta_env("cheetah-vel", num_envs=400)  # 20 tasks x 20 rollouts"""
    cls = meta_env_class(name)
    if name.startswith("cheetah"):
        return cls(num_envs, threads=threads)
    return cls(num_envs)


__all__ = ["FAMILIES", "MetaVecEnv", "make_meta_env", "meta_env_class"]
