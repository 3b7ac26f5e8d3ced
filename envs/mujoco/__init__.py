"""MuJoCo tasks: gymnasium v5 ids through gymnasium itself, or the batched backend in batched.py."""

from envs.mujoco.batched import SUPPORTED_TASKS, MujocoBatchBackend

__all__ = ["MujocoBatchBackend", "SUPPORTED_TASKS"]
