"""Name -> agent class, imported lazily so `rlmeta --help` stays fast and layers stay clean.

Your own agents: `register("ppo-l2", PPOWithL2)` in Python, or on the command line name the class
directly as `module:Class` (importable from the working directory), e.g.
`rlmeta train my_ideas:PPOWithL2 --env Hopper-v5`.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util

from rlmeta.core.errors import ConfigError

ALGOS: dict[str, str | type] = {
    "ppo": "rlmeta.agents.onpolicy.ppo:PPO",
    "vpg": "rlmeta.agents.onpolicy.vpg:VPG",
    "trpo": "rlmeta.agents.onpolicy.trpo:TRPO",
    "ddpg": "rlmeta.agents.offpolicy.ddpg:DDPG",
    "td3": "rlmeta.agents.offpolicy.td3:TD3",
    "sac": "rlmeta.agents.offpolicy.sac:SAC",
    "alphazero": "rlmeta.agents.alphazero.agent:AlphaZero",
}


def register(name: str, agent_cls: type | str) -> None:
    """Make `agent_cls` (a class or "module:Class") trainable as `name` by rlmeta.app.runner.train."""
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


def check_name(name: str) -> None:
    """ConfigError for a name that is neither registered nor `module:Class`, before any agent (and
    torch, seconds to import) is imported: a typo should come back at once."""
    if ":" in name and name not in ALGOS:
        return
    if name not in ALGOS or name not in available():
        close = difflib.get_close_matches(name, available(), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown algo '{name}'{hint}; available: {', '.join(available())}")


def get_agent(name: str, named_in: str | None = None):
    """The agent class of a registered name, or of `module:Class` named by the user.

    named_in: the file the name was read from (a run dir's config.json) when the user did not type
    it. A registered name is fine from anywhere; a module:Class read from someone else's files is
    refused, since importing it runs that module's code: the user names it on the command line."""
    check_name(name)
    if name not in ALGOS:  # module:Class of a user's own agent
        if named_in is not None:
            raise ConfigError(
                f"{named_in} names the agent '{name}', a module of your own; rlmeta does not "
                f"import a module named inside a run's files: pass --agent {name} to trust it"
            )
        import sys

        if "" not in sys.path:
            # the working directory, after the installed packages: a local folder never shadows one
            sys.path.append("")
        try:
            agent_cls = _import(name)
        except (ImportError, AttributeError, ValueError) as e:
            raise ConfigError(f"cannot import agent '{name}': {e}") from None
        if not isinstance(agent_cls, type) or not hasattr(agent_cls, "Config"):
            raise ConfigError(f"'{name}' is not an agent class (an agent has a Config dataclass)")
        return agent_cls
    return _import(ALGOS[name])
