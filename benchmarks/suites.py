"""Benchmark suites as data: algorithms x envs x seeds x budget, read from YAML.

A suite file (built-ins live in benchmarks/suites/*.yaml; any path works too):

    name: smoke
    algos:                      # algo -> preset and extra config fields for every run of it
      ppo: {preset: spinningup}
    envs: [HalfCheetah-v5, Hopper-v5]
    default_envs: []            # the envs a run without `--only ENV` covers ([] = all of envs); the
                                # others run when named: `rlmeta bench SUITE --only Walker2d-v5`
    seeds: 2                    # default for --seeds
    default_budget: smoke       # default for --budget
    budgets: {smoke: 150000, quick: 300000, 1m: 1000000, 3m: 3000000}
    overrides: {}               # config fields applied to every run (e.g. num_steps: 250)
    seeds_together: true        # off-policy algos (ddpg, td3, sac): all seeds of an (algo, env) in one
                                # process (`rlmeta train ALGO --seeds K`); each seed keeps its run dir

Example:
    >>> suite = load_suite("smoke")
    >>> specs = suite.specs("smoke", seeds=2, out=Path("runs/bench-smoke"))
    >>> specs[0].argv()       # the `rlmeta ...` arguments that run it
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlmeta.core.env_ids import run_name
from rlmeta.core.errors import ConfigError

SUITE_DIR = Path(__file__).parent / "suites"
BUDGETS = ("smoke", "quick", "1m", "3m")
SEEDS_TOGETHER = ("ddpg", "td3", "sac")  # agents that train several seeds in one process (rlmeta/app/multiseed.py)


def builtin_suites() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class RunSpec:
    """One training run of a suite; its run directory is `out/{algo}-{env}-s{seed}`."""

    algo: str
    env: str
    seed: int
    total_steps: int
    run_dir: Path
    preset: str | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    wandb: str = "disabled"
    group: tuple[int, ...] = ()
    """Seeds trained together with this one in one process (`--seeds K`, consecutive); the first
    launches the group, the others are launched alone only when it has nothing left to do. () = alone."""

    @property
    def name(self) -> str:
        return self.run_dir.name

    def seed_dir(self, seed: int) -> Path:
        return self.run_dir.parent / run_name(self.algo, self.env, seed)

    def _done(self, run_dir: Path) -> int:
        marker = run_dir / "done"
        try:
            return int(marker.read_text().split()[0]) if marker.exists() else 0
        except (ValueError, IndexError):
            return 0

    def steps_done(self) -> int:
        """Steps of a finished run (its `done` marker), else 0."""
        return self._done(self.run_dir)

    def is_complete(self) -> bool:
        """Nothing to launch for this spec: its run is complete, or it is a later seed of a group whose
        first seed is not complete (that one's process trains the whole group)."""
        if self.steps_done() >= self.total_steps:
            return True
        return (
            bool(self.group)
            and self.seed != self.group[0]
            and self._done(self.seed_dir(self.group[0])) < self.total_steps
        )

    def together(self) -> list[int]:
        """The seeds this spec's process trains: its group's unfinished seeds when it leads the group."""
        if not self.group or self.seed != self.group[0]:
            return [self.seed]
        return [s for s in self.group if self._done(self.seed_dir(s)) < self.total_steps]

    def argv(self, env_threads: int = 0) -> list[str]:
        """`rlmeta` arguments: a fresh run, or --resume when the directory holds a checkpoint
        (an interrupted run, or a finished one extended to a larger budget)."""
        common = ["--total-steps", str(self.total_steps), "--no-progress"]
        if env_threads == 1:  # runs share the cores: one torch thread each, or their threads would fight
            common += ["--torch-threads", "1"]
        seeds = self.together()
        if len(seeds) > 1:  # one process for the group: --seeds K with a {seed} run-dir template
            tmpl = str(self.run_dir.parent / run_name(self.algo, self.env, "{seed}"))
            k = ["--seeds", str(len(seeds))]
            if any((self.seed_dir(s) / "checkpoint.pt").exists() for s in seeds):
                return ["train", self.algo, *k, "--seed", str(seeds[0]), "--resume", tmpl, *common]
            first, where = k, tmpl
        else:
            first, where = [], str(self.run_dir)
            if (self.run_dir / "checkpoint.pt").exists():
                return ["train", self.algo, "--resume", str(self.run_dir), *common]
        args = ["train", self.algo, *first]
        if self.preset:
            args += ["--preset", self.preset]
        args += [
            "--env",
            self.env,
            "--seed",
            str(self.seed),
            "--run-dir",
            where,
            *common,
            "--wandb",
            self.wandb,
            "--wandb-job-type",
            "bench",
        ]
        if self.tags:
            args += ["--wandb-tags", *self.tags]
        if env_threads:
            args += ["--env-threads", str(env_threads)]
        for k, v in self.overrides:
            flag = "--" + k.replace("_", "-")
            if isinstance(v, bool):  # tyro: --flag / --no-flag
                args.append(flag if v else "--no-" + k.replace("_", "-"))
            elif isinstance(v, (list, tuple)):
                args += [flag, *map(str, v)]
            else:
                args += [flag, str(v)]
        return args


@dataclass
class Suite:
    name: str
    algos: dict[str, dict[str, Any]]
    envs: list[str]
    seeds: int = 3
    budgets: dict[str, int] = field(
        default_factory=lambda: {"smoke": 50_000, "quick": 300_000, "1m": 1_000_000, "3m": 3_000_000}
    )
    default_budget: str = "1m"
    overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    seeds_together: bool = True
    default_envs: list[str] = field(default_factory=list)
    """The envs of a run that names none with --only ([] = every env of `envs`): a suite can offer more
    tasks than its default covers, so its recorded commands keep meaning what they ran."""

    def total_steps(self, budget: str) -> int:
        if budget not in self.budgets:
            raise ConfigError(f"--budget must be one of {', '.join(self.budgets)}, got '{budget}'")
        return int(self.budgets[budget])

    def specs(
        self, budget: str, seeds: int, out: Path, wandb: str = "disabled", envs: list[str] | None = None
    ) -> list[RunSpec]:
        """The runs of the suite on `envs` (default: default_envs, or every env), ordered env-major so
        parallel workers mix algorithms."""
        envs = envs if envs is not None else (self.default_envs or self.envs)
        if seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {seeds}")
        steps = self.total_steps(budget)
        tags = (f"suite:{self.name}", f"budget:{budget}")
        out_specs = []
        for seed in range(seeds):
            for env in envs:
                for algo, opts in self.algos.items():
                    opts = dict(opts or {})
                    preset = opts.pop("preset", None)
                    fields = {**self.overrides, **opts}
                    group = tuple(range(seeds)) if self.seeds_together and algo in SEEDS_TOGETHER and seeds > 1 else ()
                    out_specs.append(
                        RunSpec(
                            algo,
                            env,
                            seed,
                            steps,
                            out / run_name(algo, env, seed),
                            preset,
                            tuple(sorted(fields.items())),
                            tags,
                            wandb,
                            group,
                        )
                    )
        return out_specs


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name (benchmarks/suites/NAME.yaml) or a YAML file path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        path = SUITE_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        close = difflib.get_close_matches(name_or_path, builtin_suites(), n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(
            f"unknown suite '{name_or_path}'{hint}; built-in: {', '.join(builtin_suites())} or a path to a .yaml file"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"suite file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    known = set(Suite.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"suite file {path}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    for key in ("name", "algos", "envs"):
        if key not in data:
            raise ConfigError(f"suite file {path}: missing '{key}'")
    from rlmeta.app.registry import ALGOS
    from rlmeta.envs import check_env_id
    from rlmeta.envs.atari import is_atari

    for algo in data["algos"]:
        if algo not in ALGOS:
            raise ConfigError(f"suite file {path}: unknown algo '{algo}'; available: {', '.join(ALGOS)}")
    for env in data["envs"]:
        if not is_atari(env):  # Atari ids go to ALE's own vector env, not gymnasium's registry
            check_env_id(env)
    stray = set(data.get("default_envs") or []) - set(data["envs"])
    if stray:
        raise ConfigError(f"suite file {path}: default_envs {sorted(stray)} are not among its envs")
    return Suite(**data)
