"""Sizes that cannot fit: refused in one line before anything is allocated.

An estimate against the memory this machine has available is enough: it catches a typo (an extra
zero, `--num-steps 10**15`, `--hidden-sizes 100000000`) before torch tries to allocate petabytes,
or before a million simulators are built one by one for an hour. The estimates are lower bounds of
what a run holds (see each config's `memory_estimate`), so a run that fits is never refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rlmeta.core.errors import ConfigError

GB = 1024**3
MAX_THREADS = 1024  # torch and the physics backends: more threads than this is a typo (torch segfaults)


def available_bytes() -> int:
    """Memory available to new allocations: MemAvailable of /proc/meminfo, else total physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: never refuse


def mlp_params(sizes: Sequence[int]) -> int:
    """Parameters of an MLP with these layer widths (weights and biases)."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def check_fits(parts: dict[str, int], flags: str, available: int | None = None) -> None:
    """ConfigError when the estimated bytes of `parts` (what -> bytes) exceed the available memory.
    `flags`: the settings that set the size, named in the message."""
    need = sum(parts.values())
    have = available_bytes() if available is None else available
    if need > have:
        what = max(parts, key=lambda k: parts[k])
        raise ConfigError(
            f"{flags}: this run would need at least {need / GB:,.1f} GB of memory ({what}: "
            f"{parts[what] / GB:,.1f} GB) and this machine has {have / GB:,.1f} GB available"
        )
