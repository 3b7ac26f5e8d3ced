"""Seeding of python, numpy and torch, capture/restore of their RNG states for checkpoints, and the
process-wide torch settings a run starts with (threads, denormals, device)."""

from __future__ import annotations

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


def set_torch_threads(n: int) -> None:
    """torch's intra-op threads (at least 1), with float denormals flushed to zero on the CPU.

    Why flush: Adam's first moment of a parameter whose gradient is exactly zero (a dead ReLU unit)
    decays by beta1 = 0.9 per step into the float32 subnormal range (below 1.2e-38) and stays there
    for about 150 steps; x86 handles subnormal operands in microcode, 10-25x slower. In a SAC run on
    Hopper-v5, 14% of the critic's Adam moments were subnormal after 3000 steps, and one elementwise
    Adam op took 490 us instead of 31 (benchmarks/results/offpolicy_throughput.md). Flushing (FTZ/DAZ,
    what XLA and TensorFlow do on the CPU by default) changes results only where a value would have
    been below 1.2e-38 (2.2e-308 in float64). It is set on the calling thread before the thread count,
    so worker threads created afterwards inherit it.
    """
    torch.set_flush_denormal(True)
    torch.set_num_threads(max(1, n))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from rlmeta.errors import ConfigError

        raise ConfigError("--device cuda requested but torch.cuda.is_available() is False")
    return torch.device(name)
