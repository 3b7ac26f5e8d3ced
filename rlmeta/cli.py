"""`rlmeta` command line. `rlmeta --help` lists the commands; `rlmeta train ALGO --help` lists every
hyperparameter of ALGO with its doc and default (generated from the config dataclass by tyro).

Bad input exits with status 2 and one line: `rlmeta: error: <reason>`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from rlmeta.errors import ConfigError

COMMANDS = {
    "train": "train an agent: rlmeta train ALGO --env ENV_ID --total-steps N --seed S --run-dir DIR",
    "bench": "run a benchmark suite (resumable), then write summary.md and plots",
    "plot": "plot learning curves of run directories",
    "compare": "print a table of runs (final return, steps, wall time)",
    "eval": "evaluate a board-game checkpoint (tictactoe optimality, connect4 Pons mistake rates)",
    "arena": "play two players against each other: win/draw/loss per seat and Elo",
    "play": "play a board game against an agent in the terminal",
    "meta-train": "meta-train MAML on a task family (sine, cheetah-vel, ...)",
    "render": "render a checkpointed policy to mp4/GIF",
    "sweep": "hyperparameter sweep with Optuna (or Ray Tune)",
}

# command -> "module:function(args: list[str]) -> int"; imported only when the command runs.
HANDLERS = {
    "bench": "benchmarks.cli:cmd_bench",
    "plot": "benchmarks.cli:cmd_plot",
    "compare": "benchmarks.cli:cmd_compare",
    "eval": "agents.alphazero.cli:cmd_eval",
    "arena": "agents.alphazero.cli:cmd_arena",
    "play": "agents.alphazero.cli:cmd_play",
    "meta-train": "agents.maml.cli:cmd_meta_train",
    "render": "rlmeta.video:cmd_render",
    "sweep": "rlmeta.sweep:cmd_sweep",
}


def _usage() -> str:
    lines = ["usage: rlmeta COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {k:<11} {v}" for k, v in COMMANDS.items()]
    lines += ["", "`rlmeta COMMAND --help` explains each command's flags."]
    return "\n".join(lines)


def _pop_flag(args: list[str], flag: str) -> str | None:
    """Value of `--flag X` / `--flag=X` in args (left in place for tyro to parse and show in --help)."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def load_preset(Config, name: str):
    """A named preset of Config, or a .json/.yaml file of field values (e.g. written by a sweep)."""
    presets = Config.presets()
    if name in presets:
        return presets[name]
    path = Path(name)
    if path.suffix in (".json", ".yaml", ".yml"):
        if not path.exists():
            raise ConfigError(f"preset file {path} does not exist")
        import yaml  # yaml is a superset of json

        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"preset file {path} is not valid YAML/JSON: {str(e).splitlines()[0]}") from None
        data.pop("algo", None)
        base = presets[data.get("preset", next(iter(presets)))] if data.get("preset") in presets else next(iter(presets.values()))
        return base.replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    raise ConfigError(f"unknown preset '{name}'; choose from {', '.join(presets)} or pass a .json/.yaml file")


def parse_train_args(algo: str, args: list[str]):
    """-> (agent class, config) for `rlmeta train ALGO args...`."""
    import tyro

    from rlmeta.config import load_config_dict
    from rlmeta.registry import get_agent

    agent_cls = get_agent(algo)
    Config = agent_cls.Config
    resume = _pop_flag(args, "--resume")
    if resume is not None:
        saved = load_config_dict(Path(resume) / "config.json")
        saved_algo = saved.pop("algo", algo)
        if saved_algo != algo:
            raise ConfigError(f"{resume} is a {saved_algo} run, not {algo}")
        default = Config.from_dict(saved).replace(resume=resume)
    else:
        preset = _pop_flag(args, "--preset")
        default = load_preset(Config, preset) if preset else next(iter(Config.presets().values()))
    doc = (sys.modules[agent_cls.__module__].__doc__ or "").strip()
    cfg = tyro.cli(Config, args=args, default=default, prog=f"rlmeta train {algo}", description=doc)
    cfg.validate()
    return agent_cls, cfg


def cmd_train(args: list[str]) -> int:
    from rlmeta.registry import available

    if not args or args[0] in ("-h", "--help"):
        print("usage: rlmeta train ALGO [--preset NAME] [--env ENV_ID] [--total-steps N] [--seed S] "
              "[--run-dir DIR] [--resume DIR] [--device cpu|cuda] [--wandb MODE] ...\n")
        print("algorithms: " + ", ".join(available()))
        print("`rlmeta train ALGO --help` lists every hyperparameter with its default.")
        return 0
    from rlmeta.runner import train

    algo, rest = args[0], list(args[1:])
    _, cfg = parse_train_args(algo, rest)
    run_dir = train(algo, cfg)
    print(f"rlmeta: run finished: {run_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    cmd, rest = args[0], args[1:]
    try:
        if cmd == "train":
            return cmd_train(rest)
        if cmd in HANDLERS:
            import importlib

            mod, fn = HANDLERS[cmd].split(":")
            try:
                handler = getattr(importlib.import_module(mod), fn)
            except (ImportError, AttributeError) as e:
                raise ConfigError(f"'{cmd}' is not available in this install ({e})") from None
            return handler(rest)
        print(f"rlmeta: error: unknown command '{cmd}'; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"rlmeta: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlmeta: interrupted; resume with --resume RUN_DIR (the last checkpoint is intact)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
