"""The env-id forms that the layers above read before any env is built: the core layer knows them so
a config can size a run (RunConfig.memory_estimate) without importing rlmeta.envs.

Example:
    >>> is_atari("BreakoutNoFrameskip-v4"), is_atari("ALE/MsPacman-v5"), is_atari("Hopper-v5")
    (True, True, False)
"""

from __future__ import annotations

import re

ATARI_V4 = re.compile(r"^(?P<game>[A-Za-z]+)NoFrameskip-v4$")
"""`<Game>NoFrameskip-v4`: no sticky actions (the ids of CleanRL's and SB3's Atari benchmarks)."""
ATARI_V5 = re.compile(r"^ALE/(?P<game>[A-Za-z]+)-v5$")
"""`ALE/<Game>-v5`: sticky actions with probability 0.25 (Machado et al. 2018)."""


def is_atari(env_id: str) -> bool:
    """True for the ids rlmeta's Atari backend takes: `<Game>NoFrameskip-v4` and `ALE/<Game>-v5`."""
    return bool(ATARI_V4.match(env_id) or ATARI_V5.match(env_id))


def path_name(env_id: str) -> str:
    """The env id as one path component: a namespace's `/` becomes `-`, so `ALE/Breakout-v5` names the
    run directory `ppo-ALE-Breakout-v5-s0` and the plot `ALE-Breakout-v5.png` rather than a folder `ALE`.

        >>> path_name("ALE/Breakout-v5"), path_name("Hopper-v5")
        ('ALE-Breakout-v5', 'Hopper-v5')
    """
    return env_id.replace("/", "-")


def run_name(algo: str, env_id: str, seed: int | str) -> str:
    """A run directory's name, `{algo}-{env}-s{seed}`, with the env id as one path component."""
    return f"{algo}-{path_name(env_id)}-s{seed}"


__all__ = ["ATARI_V4", "ATARI_V5", "is_atari", "path_name", "run_name"]
