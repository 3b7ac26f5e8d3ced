"""Seeding of python, numpy and torch, capture/restore of their RNG states for checkpoints, and the
process-wide torch settings a run starts with (threads, denormals, device)."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python/numpy/torch globally and return a numpy Generator for the caller's own draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def auto_threads() -> int:
    """The thread count `--torch-threads 0` stands for: 2 where this process may use two or more CPU
    cores, else 1. On a 2-core CPU a second thread made SAC and TD3 training faster end to end
    (benchmarks/results/offpolicy_throughput_2threads.md against offpolicy_throughput.md); more
    threads are not measured."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(2, max(1, cores))


def set_torch_threads(n: int) -> None:
    """torch's intra-op threads (n >= 1, or 0 for auto_threads()), with float denormals flushed to
    zero on the CPU.

    Why flush: Adam's first moment of a parameter whose gradient is exactly zero (a dead ReLU unit)
    decays by beta1 = 0.9 per step into the float32 subnormal range (below 1.2e-38) and stays there
    for about 150 steps; x86 handles subnormal operands in microcode, 10-25x slower. In a SAC run on
    Hopper-v5 a large share of the critic's Adam moments were subnormal after a few thousand steps,
    and an elementwise Adam op became an order of magnitude slower (benchmarks/results/offpolicy_throughput.md). Flushing (FTZ/DAZ,
    what XLA and TensorFlow do on the CPU by default) changes results only where a value would have
    been below 1.2e-38 (2.2e-308 in float64). It is set on the calling thread before the thread count,
    so worker threads created afterwards inherit it.
    """
    torch.set_flush_denormal(True)
    torch.set_num_threads(n if n >= 1 else auto_threads())


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from rlmeta.core.errors import ConfigError

        raise ConfigError("--device cuda requested but torch.cuda.is_available() is False")
    return torch.device(name)
