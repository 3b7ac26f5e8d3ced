"""`rlmeta` command line. `rlmeta --help` lists the commands; `rlmeta train ALGO --help` lists every
hyperparameter of ALGO with its doc and default (generated from the config dataclass by tyro).

Bad input exits with status 2 and one line: `rlmeta: error: <reason>`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from rlmeta.core.errors import ConfigError

MAX_SEEDS = 256
T = TypeVar("T")


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
    "bench": "rlmeta.benchmarks.cli:cmd_bench",
    "plot": "rlmeta.benchmarks.cli:cmd_plot",
    "compare": "rlmeta.benchmarks.cli:cmd_compare",
    "eval": "rlmeta.app.boardgames:cmd_eval",
    "arena": "rlmeta.app.boardgames:cmd_arena",
    "play": "rlmeta.app.boardgames:cmd_play",
    "meta-train": "rlmeta.app.meta_train:cmd_meta_train",
    "render": "rlmeta.app.render:cmd_render",
    "sweep": "rlmeta.app.sweep:cmd_sweep",
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


def load_preset(Config, name: str, algo: str | None = None):
    """A named preset of Config, or a .json/.yaml file of field values (e.g. written by a sweep),
    checked like the command line: unknown fields and wrong-typed values are one ConfigError line."""
    presets = Config.presets()
    if name in presets:
        return presets[name]
    path = Path(name)
    if path.suffix not in (".json", ".yaml", ".yml"):
        raise ConfigError(f"unknown preset '{name}'; choose from {', '.join(presets)} or pass a .json/.yaml file")
    if not path.is_file():
        raise ConfigError(f"preset file {path} " + ("is a directory" if path.is_dir() else "does not exist"))
    import yaml  # yaml is a superset of json

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"preset file {path} is not valid YAML/JSON: {str(e).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read preset file {path}: {e}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"preset file {path} must be a mapping of field: value, got a {type(data).__name__}")
    file_algo = data.pop("algo", None)
    if algo is not None and file_algo is not None and file_algo != algo:
        raise ConfigError(f"preset file {path} is for {file_algo}, not {algo}")
    base = data.get("preset")
    if base is not None and base not in presets:
        raise ConfigError(f"preset file {path}: unknown base preset {base!r}; choose from {', '.join(presets)}")
    default = presets[base] if base is not None else next(iter(presets.values()))
    return default.replace(**Config.coerce_dict(data, f"preset file {path}"))


def _int_registry():
    """A tyro constructor rule for every int field: 1e6 and 5e4 are accepted (exact), 1.5 is not."""
    from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec

    from rlmeta.core.config import parse_int

    registry = ConstructorRegistry()

    @registry.primitive_rule
    def ints(info):
        if info.type is not int:
            return None
        return PrimitiveConstructorSpec(
            nargs=1,
            metavar="INT",
            instance_from_str=lambda a: parse_int(a[0]),
            is_instance=lambda x: isinstance(x, int) and not isinstance(x, bool),
            str_from_instance=lambda x: [str(x)],
        )

    return registry


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FLAG = re.compile(r"--[A-Za-z0-9][\w-]*")


def _box_message(box: str) -> str:
    """The first section of a tyro error box (its reason), as one line; tyro draws the reason, then
    rules and the argument's help text, over ten lines."""
    parts: list[str] = []
    for raw in _ANSI.sub("", box).splitlines():
        line = raw.strip()
        if not line or line[0] in "╭╰":
            continue
        line = line.strip("│").strip()
        if line and set(line) <= set("─━"):
            if parts:
                break
            continue
        if line:
            parts.append(line)
    # rows were wrapped to the box's width: rejoin them, without the space a wrap left before a "."
    return re.sub(r" (?=[.,;:](\s|$))", "", " ".join(" ".join(parts).split()))


def _missing_positionals(Config, args: list[str]) -> list[str]:
    """The names (upper case) of Config's required positional fields that `args` leaves out."""
    import dataclasses

    import tyro

    required = [
        f.name.upper()
        for f in dataclasses.fields(Config)
        if f.default is tyro.MISSING and "Positional" in str(f.type)  # (the annotations are strings here)
    ]
    given = 0
    for a in args:
        if a.startswith("-"):
            break
        given += 1
    return required[given:] or required


def parse_config(Config, args: list[str], default, prog: str, description: str = ""):
    """tyro.cli(Config) under rlmeta's error contract: a parse error (tyro prints a box of several
    lines and exits) becomes one ConfigError line, with a close flag suggested for a misspelt one;
    ints may be written as 1e6. --help still prints tyro's full help and exits 0."""
    import contextlib
    import dataclasses
    import difflib
    import io

    import tyro

    from rlmeta.core.config import flag

    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), _int_registry():
            cfg = tyro.cli(Config, args=args, default=default, prog=prog, description=description)
    except SystemExit as e:
        if e.code in (0, None):
            sys.stderr.write(captured.getvalue())
            raise
        message = _box_message(captured.getvalue()) or "invalid arguments"
        if "Missing from" in message:  # tyro lists each missing argument with its type and help
            names = _FLAG.findall(message) or _missing_positionals(Config, args)
            message = f"missing required argument{'s' if len(names) > 1 else ''}: {' '.join(names)}"
        known = ["--help"]
        for f in dataclasses.fields(Config):
            known.append(flag(f.name))
            if f.type in (bool, "bool"):
                known.append(flag("no_" + f.name))
        unknown = [t for t in _FLAG.findall(message) if t not in known]
        if unknown or message.startswith("Unrecognized"):
            close = sorted({c for t in unknown for c in difflib.get_close_matches(t, known, n=1, cutoff=0.75)})
            message += f" (did you mean {', '.join(close)}?)" if close else f"; `{prog} --help` lists every flag"
        raise ConfigError(f"{prog}: {message}") from None
    sys.stderr.write(captured.getvalue())  # tyro's warnings, if any
    return cfg


def parse_command(Args: type[T], args: Sequence[str], prog: str, description: str = "") -> T:
    """The flags of a command (bench, plot, compare, eval, arena, play, render, sweep) from the dataclass
    Args, whose fields and docstrings are the flags and their help: parsed by tyro under the same error
    contract as `rlmeta train`'s config (parse_config), so every command declares and reports flags one way.
    A field whose default is tyro.MISSING is required."""
    return parse_config(Args, list(args), Args(), prog=prog, description=description)


def parse_train_args(algo: str, args: list[str]):
    """-> (agent class, config) for `rlmeta train ALGO args...`."""
    from rlmeta.app.registry import get_agent
    from rlmeta.core.config import load_config_dict

    resume = _pop_flag(args, "--resume")
    saved = None
    if resume is not None:  # the run's algo is checked before any module is imported
        saved = load_config_dict(Path(resume) / "config.json")
        saved_algo = saved.pop("algo", algo)
        if saved_algo != algo:
            raise ConfigError(f"{resume} is a {saved_algo} run, not {algo}")
    agent_cls = get_agent(algo)
    Config = agent_cls.Config
    if saved is not None:
        default = Config.from_dict(saved, f"{resume}/config.json").replace(resume=resume)
    else:
        preset = _pop_flag(args, "--preset")
        default = load_preset(Config, preset, algo) if preset else next(iter(Config.presets().values()))
        overrides = getattr(Config, "task_overrides", None)  # a preset's per-task fields (PPO's gpu preset)
        if overrides is not None:
            default = default.replace(**overrides(default.preset, _pop_flag(args, "--env") or default.env))
    doc = (sys.modules[agent_cls.__module__].__doc__ or "").strip()
    cfg = parse_config(Config, args, default, prog=f"rlmeta train {algo}", description=doc)
    cfg.validate()
    return agent_cls, cfg


def _set_flag(args: list[str], flag: str, value: str) -> list[str]:
    """args with `flag`'s value replaced by value (both spellings), or `flag value` appended."""
    out, i, found = [], 0, False
    while i < len(args):
        a = args[i]
        if a == flag and i + 1 < len(args):
            out += [flag, value]
            i, found = i + 2, True
            continue
        if a.startswith(flag + "="):
            out.append(f"{flag}={value}")
            found = True
        else:
            out.append(a)
        i += 1
    return out if found else out + [flag, value]


def seed_argvs(algo: str, args: list[str], k: int) -> list[list[str]]:
    """`rlmeta train ALGO --seeds K ...` -> the arguments of the K single runs it stands for: --seed
    S+i, --seeds 1, and {seed} in --run-dir / --resume filled in (default run dirs differ by seed)."""
    from rlmeta.core.config import parse_int

    seed_text = _pop_flag(args, "--seed")
    try:
        base = parse_int(seed_text) if seed_text is not None else 0
    except ValueError as e:
        raise ConfigError(f"--seed: {e}") from None
    for name in ("--run-dir", "--resume"):
        value = _pop_flag(args, name)
        if value is not None and "{seed}" not in value:
            raise ConfigError(
                f"--seeds {k}: {name} {value} would be shared by every seed; write it with a "
                f"{{seed}} placeholder, e.g. {name} runs/{algo}-hop-s{{seed}}"
            )
    out = []
    for i in range(k):
        a = _set_flag(_set_flag(list(args), "--seed", str(base + i)), "--seeds", "1")
        for name in ("--run-dir", "--resume"):
            value = _pop_flag(a, name)
            if value is not None:
                a = _set_flag(a, name, value.replace("{seed}", str(base + i)))
        out.append(a)
    return out


def _group_seed(args: list[str], k: int) -> list[str]:
    """`--seeds K --resume 'DIR{seed}'` without --seed: the group's first seed read off the run dirs
    that match the pattern (a group started with --seed 5 resumes without repeating it)."""
    resume = _pop_flag(list(args), "--resume")
    if resume is None or "{seed}" not in resume or _pop_flag(list(args), "--seed") is not None:
        return args
    from rlmeta.core.config import load_config_dict

    if Path(resume.replace("{seed}", "0")).is_dir():
        return args  # the default first seed, 0, is there
    prefix, _, suffix = resume.partition("{seed}")
    found = []
    for d in Path(prefix).parent.glob(Path(prefix).name + "*" + suffix):
        middle = str(d)[len(prefix) : len(str(d)) - len(suffix) or None]
        if middle.isdigit() and (d / "config.json").is_file():
            try:
                if int(load_config_dict(d / "config.json").get("seed", -1)) == int(middle):
                    found.append(int(middle))
            except ConfigError:
                continue
    if not found:
        raise ConfigError(
            f"--resume {resume}: no run dir matches (with {{seed}} = 0, 1, ...); pass --seed S, the group's first seed"
        )
    base = min(found)
    if sorted(found)[:k] != list(range(base, base + k)):
        raise ConfigError(
            f"--resume {resume}: the run dirs hold seeds {', '.join(map(str, sorted(found)))}; pass "
            f"--seed S, the first of the {k} seeds to resume"
        )
    print(f"rlmeta: resuming seeds {base}..{base + k - 1} (read off the run dirs)", file=sys.stderr)
    return [*args, "--seed", str(base)]


def seed_configs(algo: str, argvs: list[list[str]]):
    """The K seeds' configs. On --resume, a seed killed before its first checkpoint (the others have
    theirs) starts afresh in its run dir with the group's settings, read off a seed that has one: a
    kill at any moment leaves a group that the same command continues."""
    cfgs: list = [None] * len(argvs)
    missing = []
    for i, a in enumerate(argvs):
        resume = _pop_flag(list(a), "--resume")
        if resume is not None and not (Path(resume) / "checkpoint.pt").is_file():
            missing.append((i, resume))
        else:
            cfgs[i] = parse_train_args(algo, list(a))[1]
    if missing:
        if all(c is None for c in cfgs):
            raise ConfigError(
                f"--resume: no seed of the group has a checkpoint yet ({missing[0][1]} has none); "
                "run the command without --resume (with --run-dir) to start it again"
            )
        first = next(i for i, c in enumerate(cfgs) if c is not None)
        for i, run_dir in missing:  # (a fresh run rewrites progress.csv from its first row)
            cfgs[i] = cfgs[first].replace(seed=cfgs[first].seed + i - first, run_dir=run_dir, resume=None)
            print(
                f"rlmeta: seed {cfgs[i].seed}: {run_dir} has no checkpoint (stopped before its first); it "
                "starts afresh there",
                file=sys.stderr,
            )
    return cfgs


def cmd_train(args: list[str]) -> int:
    from rlmeta.app.registry import available, check_name

    if not args:  # like a missing positional of the other commands (bench, plot, ...)
        raise ConfigError(
            f"rlmeta train needs an algorithm: rlmeta train ALGO [FLAGS] (ALGO: {', '.join(available())} "
            "or module:Class); `rlmeta train --help` explains"
        )
    if args[0] in ("-h", "--help"):
        print(
            "usage: rlmeta train ALGO [--preset NAME] [--env ENV_ID] [--total-steps N] [--seed S] "
            "[--run-dir DIR] [--resume DIR] [--device cpu|cuda] [--wandb MODE] ...\n"
        )
        print("algorithms: " + ", ".join(available()))
        print("`rlmeta train ALGO --help` lists every hyperparameter with its default.")
        return 0
    algo, rest = args[0], list(args[1:])
    check_name(algo)  # before torch and the agents are imported
    seeds = _pop_flag(rest, "--seeds")
    if seeds is not None and seeds.strip() not in ("1", "") and "--help" not in rest and "-h" not in rest:
        from rlmeta.core.config import parse_int

        try:
            k = parse_int(seeds)
        except ValueError as e:
            raise ConfigError(f"--seeds: {e}") from None
        if k < 1:
            raise ConfigError(f"--seeds must be >= 1, got {k}")
        if k > MAX_SEEDS:
            raise ConfigError(
                f"--seeds {k}: at most {MAX_SEEDS} seeds train in one process (each holds its "
                "own envs, networks and replay buffer); run several groups"
            )
        if k > 1:
            cfgs = seed_configs(algo, seed_argvs(algo, _group_seed(rest, k), k))
            from rlmeta.app.multiseed import train_seeds

            run_dirs = train_seeds(algo, cfgs)
            print(f"rlmeta: runs finished: {', '.join(map(str, run_dirs))}")
            return 0
    _, cfg = parse_train_args(algo, rest)
    from rlmeta.app.runner import train

    run_dir = train(algo, cfg)
    print(f"rlmeta: run finished: {run_dir}")
    return 0


def _os_error(e: OSError) -> str:
    """One line for an OSError: the path(s) and the reason."""
    if e.filename is None:
        return str(e)
    where = str(e.filename) if e.filename2 is None else f"{e.filename} -> {e.filename2}"
    # mkdir(exist_ok=True) raises FileExistsError only where a file stands in for the folder
    why = "exists and is not a directory" if isinstance(e, FileExistsError) else (e.strerror or type(e).__name__)
    return f"{where}: {why}"


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
    except OSError as e:  # a path the user named cannot be made, read or written: bad input, not a bug
        print(f"rlmeta: error: {_os_error(e)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:  # a size no estimate caught: one line, not a traceback
        text = str(e)
        if not isinstance(e, MemoryError) and not any(
            s in text for s in ("can't allocate memory", "out of memory", "Cannot allocate memory")
        ):
            raise
        tried = re.search(r"allocate (\d+) bytes", text)
        size = f" ({int(tried.group(1)) / 1024**3:,.1f} GB in one allocation)" if tried else ""
        print(
            f"rlmeta: error: out of memory{size}: reduce the sizes of this run (--num-envs, --games, "
            "--hidden-sizes, buffer and batch sizes)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("rlmeta: interrupted; resume with --resume RUN_DIR (the last checkpoint is intact)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
