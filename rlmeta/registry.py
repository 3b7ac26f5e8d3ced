"""Name -> agent class, imported lazily so `rlmeta --help` stays fast and layers stay clean."""

from __future__ import annotations

import difflib
import importlib

from rlmeta.errors import ConfigError

ALGOS: dict[str, str] = {
    "ppo": "agents.pg.ppo:PPO",
    "vpg": "agents.pg.vpg:VPG",
    "trpo": "agents.pg.trpo:TRPO",
    "ddpg": "agents.pg.ddpg:DDPG",
    "td3": "agents.pg.td3:TD3",
    "sac": "agents.pg.sac:SAC",
    "alphazero": "agents.alphazero.agent:AlphaZero",
}


def available() -> list[str]:
    out = []
    for name, target in ALGOS.items():
        mod = target.split(":")[0]
        if importlib.util.find_spec(mod) is not None:
            out.append(name)
    return out


def get_agent(name: str):
    if name not in ALGOS or name not in available():
        close = difflib.get_close_matches(name, available(), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown algo '{name}'{hint}; available: {', '.join(available())}")
    mod, cls = ALGOS[name].split(":")
    return getattr(importlib.import_module(mod), cls)
