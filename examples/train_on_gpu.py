"""Tutorial: train on one GPU (docs/tutorials/gpu.md).

On a machine with CUDA and the `gpu` extra (mujoco-warp + warp-lang) this trains PPO's `gpu` preset:
thousands of mujoco-warp worlds, rewards, resets and normalisation on the device, the whole update
phase replayed as one CUDA graph. Without CUDA it falls back to the CPU: the batched MuJoCo backend
with CleanRL's settings, so the same script runs anywhere (and in the tests).

    python examples/train_on_gpu.py                                  # HalfCheetah-v5, 20M steps on a GPU
    python examples/train_on_gpu.py --total-steps 4096 --num-envs 4  # seconds (on the CPU without CUDA)
    rlmeta train ppo --preset gpu --env HalfCheetah-v5 --total-steps 100000000    # the same, from the shell
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from rlmeta.agents.onpolicy.ppo import PPOConfig
from rlmeta.app.runner import train


def gpu_ready() -> tuple[bool, str]:
    """(whether the gpu preset can run here, why not)."""
    if not torch.cuda.is_available():
        return False, "no CUDA device"
    if importlib.util.find_spec("mujoco_warp") is None or importlib.util.find_spec("warp") is None:
        return False, "the `gpu` extra (mujoco-warp, warp-lang) is not installed: pip install -e '.[gpu]'"
    return True, ""


def config(env: str, total_steps: int, num_envs: int | None, run_dir: str, force_cpu: bool = False) -> PPOConfig:
    ok, why = gpu_ready()
    if ok and not force_cpu:
        cfg = PPOConfig.presets()["gpu"]  # 4096 worlds x 32 steps, CUDA-graph update (compile=True)
        print(f"training on {torch.cuda.get_device_name()} with the gpu preset")
    else:
        print(f"falling back to the CPU ({'--cpu' if force_cpu else why}): batched MuJoCo backend, cleanrl preset")
        cfg = PPOConfig.presets()["cleanrl"].replace(device="cpu", num_envs=8, num_steps=256, num_minibatches=8)
    cfg = cfg.replace(env=env, total_steps=total_steps, run_dir=run_dir, progress=False)
    if num_envs is not None:
        cfg = cfg.replace(num_envs=num_envs)
    return cfg


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="HalfCheetah-v5", help="HalfCheetah-v5 or Hopper-v5 (the warp tasks)")
    p.add_argument("--total-steps", type=int, default=20_000_000)
    p.add_argument("--num-envs", type=int, default=None, help="parallel worlds (default: the preset's)")
    p.add_argument("--cpu", action="store_true", help="use the CPU fallback even where a GPU is present")
    p.add_argument("--run-dir", default="runs/ppo-gpu")
    a = p.parse_args(argv)
    return train("ppo", config(a.env, a.total_steps, a.num_envs, a.run_dir, a.cpu))


if __name__ == "__main__":
    main()
