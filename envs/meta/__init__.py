"""Meta-RL task families, vectorised across tasks (one task per sub-env); see base.py for the API.

| name        | class          | task                      | horizon |
|-------------|----------------|---------------------------|---------|
| cheetah-vel | HalfCheetahVel | goal velocity ~ U[0, 2]   | 200     |
| cheetah-dir | HalfCheetahDir | direction in {-1, +1}     | 200     |
| ant-dir     | AntDir         | direction in {-1, +1}     | 200     |
| point       | PointGoal      | goal ~ U[-0.5, 0.5]^2     | 100     |

The same families in torch, M tasks x R rollouts as one vector env on the batched MuJoCo or the
mujoco-warp backend: envs/meta/batched.py (`make_meta_env(..., backend="mujoco" | "warp")`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlmeta.core.errors import ConfigError
from rlmeta.envs.meta.base import MetaVecEnv

if TYPE_CHECKING:
    import torch

    from rlmeta.envs.meta.batched import TorchMetaEnv

FAMILIES = {
    "cheetah-vel": "rlmeta.envs.meta.cheetah:HalfCheetahVel",
    "cheetah-dir": "rlmeta.envs.meta.cheetah:HalfCheetahDir",
    "ant-dir": "rlmeta.envs.meta.ant:AntDir",
    "point": "rlmeta.envs.meta.point:PointGoal",
}


def meta_env_class(name: str) -> type[MetaVecEnv]:
    import importlib

    if name not in FAMILIES:
        raise ConfigError(f"unknown task family '{name}'; choose from {', '.join(FAMILIES)}")
    mod, cls = FAMILIES[name].split(":")
    return getattr(importlib.import_module(mod), cls)


def make_meta_env(
    name: str, num_envs: int, threads: int = 0, backend: str = "numpy", device: str | torch.device = "cpu"
) -> MetaVecEnv | TorchMetaEnv:
    """Example: env = make_meta_env("cheetah-vel", num_envs=400)  # 20 tasks x 20 rollouts

    backend "numpy": the families below; "mujoco" / "warp": the task-batched torch env of
    envs/meta/batched.py on that physics backend (tensors in and out, on `device` for warp)."""
    cls = meta_env_class(name)
    if backend != "numpy":
        from rlmeta.envs.meta.batched import TorchMetaEnv

        return TorchMetaEnv(name, num_envs, backend=backend, device=device, threads=threads)
    if name.startswith("cheetah"):
        return cls(num_envs, threads=threads)
    return cls(num_envs)


__all__ = ["FAMILIES", "MetaVecEnv", "make_meta_env", "meta_env_class"]
