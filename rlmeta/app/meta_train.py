"""`rlmeta meta-train FAMILY [FLAGS]`: meta-train MAML (or FOMAML, Meta-SGD, ANIL) on a task family.

FAMILY is `sine` (supervised regression, agents/maml/sine.py) or a meta-RL family of envs/meta
(cheetah-vel, cheetah-dir, ant-dir, point; agents/maml/rl.py). `rlmeta meta-train FAMILY --help`
lists every flag with its doc and default. The run directory gets config.json, progress.csv,
checkpoint.pt (atomic, every --checkpoint-every meta-iterations) and eval.json; continue an
interrupted run with `rlmeta meta-train --resume RUN_DIR` (further flags override the saved config,
e.g. a larger --meta-iterations).

Examples:
    rlmeta meta-train sine --k-shot 5 --meta-iterations 20000 --run-dir runs/maml-sine-k5
    rlmeta meta-train sine --meta-sgd                  # Meta-SGD;  --adapt head: ANIL;  --first-order: FOMAML
    rlmeta meta-train cheetah-vel --meta-batch 20 --horizon 100 --run-dir runs/maml-cheetah-vel
    rlmeta meta-train cheetah-dir --outer promp
    rlmeta meta-train --resume runs/maml-cheetah-vel --meta-iterations 800
"""

from __future__ import annotations

import sys
from pathlib import Path

from rlmeta.core.errors import ConfigError

ALGO = "maml"
FAMILIES_HELP = {
    "sine": "sine regression y = A sin(x - phi), A ~ U[0.1, 5], phi ~ U[0, pi] (MAML sec. 5.1)",
    "cheetah-vel": "HalfCheetah-v5, reward -|v - goal|, goal velocity ~ U[0, 2]",
    "cheetah-dir": "HalfCheetah-v5, reward direction * v, direction in {-1, +1}",
    "ant-dir": "Ant-v5, forward or backward",
    "point": "2-D point navigation to a goal ~ U[-0.5, 0.5]^2",
}


def _usage() -> str:
    lines = [
        "usage: rlmeta meta-train FAMILY [FLAGS]   |   rlmeta meta-train --resume RUN_DIR [FLAGS]",
        "",
        "families:",
    ]
    lines += [f"  {k:<12} {v}" for k, v in FAMILIES_HELP.items()]
    lines += ["", "`rlmeta meta-train FAMILY --help` lists every flag with its doc and default."]
    return "\n".join(lines)


def config_class(family: str):
    """SineConfig for `sine`, MetaRLConfig for the meta-RL families; ConfigError otherwise."""
    if family == "sine":
        from rlmeta.agents.maml.sine import SineConfig

        return SineConfig
    if family in FAMILIES_HELP:
        from rlmeta.agents.maml.rl import MetaRLConfig

        return MetaRLConfig
    raise ConfigError(f"unknown task family '{family}'; choose from {', '.join(FAMILIES_HELP)}")


def make_trainer(cfg):
    if cfg.env == "sine":
        from rlmeta.agents.maml.sine import SineTrainer

        return SineTrainer(cfg)
    from rlmeta.agents.maml.rl import MetaRLTrainer

    return MetaRLTrainer(cfg)


def parse_meta_train_args(args: list[str]):
    """-> config for `rlmeta meta-train args...` (validated)."""
    from rlmeta.app.cli import _pop_flag, parse_config
    from rlmeta.core.config import load_config_dict

    args = list(args)
    family = args.pop(0) if args and not args[0].startswith("-") else None
    resume = _pop_flag(args, "--resume")
    if resume is not None:
        saved = load_config_dict(Path(resume) / "config.json")
        saved_algo = saved.pop("algo", ALGO)
        if saved_algo != ALGO:
            raise ConfigError(f"{resume} is a {saved_algo} run, not a meta-train run (use rlmeta train --resume)")
        if family is not None and family != saved.get("env"):
            raise ConfigError(f"{resume} is a {saved.get('env')} run, not {family}")
        family = saved.get("env", "")
        default = config_class(family).from_dict(saved, f"{resume}/config.json").replace(resume=resume)
    elif family is None:
        raise ConfigError(
            "meta-train needs a task family first: rlmeta meta-train FAMILY [FLAGS] "
            f"(families: {', '.join(FAMILIES_HELP)})"
        )
    else:
        default = config_class(family)(env=family)
    Config = type(default)
    doc = (sys.modules[Config.__module__].__doc__ or "").strip()
    cfg = parse_config(Config, args, default, prog=f"rlmeta meta-train {family}", description=doc)
    cfg.validate()
    return cfg


def cmd_meta_train(args: list[str]) -> int:
    """Entry point of `rlmeta meta-train` (routed by rlmeta/app/cli.py). -> exit status"""
    if not args:  # like a missing positional of the other commands (bench, plot, ...)
        raise ConfigError(
            f"rlmeta meta-train needs a task family: rlmeta meta-train FAMILY [FLAGS] (FAMILY: "
            f"{', '.join(FAMILIES_HELP)}); `rlmeta meta-train --help` explains"
        )
    if args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    cfg = parse_meta_train_args(args)
    from rlmeta.app.meta_run import run_meta_training  # torch: imported once the arguments are known good

    run_dir = run_meta_training(ALGO, cfg, make_trainer)
    print(f"rlmeta: run finished: {run_dir}")
    return 0
