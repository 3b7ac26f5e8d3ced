"""Name -> agent class, imported lazily so `rlmeta --help` stays fast and layers stay clean.

Your own agents: `register("ppo-l2", PPOWithL2)` in Python, or on the command line name the class
directly as `module:Class` (importable from the working directory), e.g.
`rlmeta train my_ideas:PPOWithL2 --env Hopper-v5`.
"""

from __future__ import annotations

import difflib
import importlib

from rlmeta.errors import ConfigError

ALGOS: dict[str, str | type] = {
    "ppo": "agents.pg.ppo:PPO",
    "vpg": "agents.pg.vpg:VPG",
    "trpo": "agents.pg.trpo:TRPO",
    "ddpg": "agents.pg.ddpg:DDPG",
    "td3": "agents.pg.td3:TD3",
    "sac": "agents.pg.sac:SAC",
    "alphazero": "agents.alphazero.agent:AlphaZero",
}


def register(name: str, agent_cls: type | str) -> None:
    """Make `agent_cls` (a class or "module:Class") trainable as `name` by rlmeta.runner.train."""
    ALGOS[name] = agent_cls


def _import(target: str | type):
    if not isinstance(target, str):  # registered class (possibly defined in a script's __main__)
        return target
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)


def available() -> list[str]:
    out = []
    for name, target in ALGOS.items():
        if not isinstance(target, str) or importlib.util.find_spec(target.split(":")[0]) is not None:
            out.append(name)
    return out


def get_agent(name: str):
    if name not in ALGOS and ":" in name:  # module:Class of a user's own agent
        import sys

        if "" not in sys.path:
            sys.path.insert(0, "")  # the working directory, as `python -m` would
        try:
            return _import(name)
        except (ImportError, AttributeError, ValueError) as e:
            raise ConfigError(f"cannot import agent '{name}': {e}") from None
    if name not in ALGOS or name not in available():
        close = difflib.get_close_matches(name, available(), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown algo '{name}'{hint}; available: {', '.join(available())}")
    return _import(ALGOS[name])
