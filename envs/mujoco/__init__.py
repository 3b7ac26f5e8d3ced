"""MuJoCo tasks: gymnasium v5 ids through gymnasium itself, the batched CPU backend in batched.py,
or mujoco-warp worlds on a GPU in warp_backend.py (imported only when asked for: it needs the
`gpu` extra)."""

from rlmeta.envs.mujoco.batched import SUPPORTED_TASKS, MujocoBatchBackend

WARP_TASKS = ("HalfCheetah-v5", "Hopper-v5")  # tasks of rlmeta.envs.mujoco.warp_backend.WarpBackend

__all__ = ["MujocoBatchBackend", "SUPPORTED_TASKS", "WARP_TASKS"]
