"""MuJoCo tasks: gymnasium v5 ids through gymnasium itself, the batched CPU backend in batched.py,
or mujoco-warp worlds on a GPU in warp_backend.py (imported only when asked for: it needs the
`gpu` extra)."""

from rlmeta.envs.mujoco.batched import SUPPORTED_TASKS, MujocoBatchBackend

WARP_TASKS = tuple(SUPPORTED_TASKS)  # tasks of rlmeta.envs.mujoco.warp_backend.WarpBackend: all of them

__all__ = ["SUPPORTED_TASKS", "WARP_TASKS", "MujocoBatchBackend"]
