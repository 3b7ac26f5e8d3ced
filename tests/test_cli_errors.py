"""The CLI's error contract over many malformed calls: exit status 2 and exactly one stderr line
`rlmeta: error: ...` (no tyro box, no traceback, no run started), for every command; errors that
need no agent come back before torch is imported; integer flags take 1e6."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rlmeta.app.cli import main

# {d}: a folder of fixture files (see `files`); {run}: a run directory (config.json + progress.csv)
MALFORMED = [
    # train: unknown names, flags, types and choices (tyro's parse errors)
    ("train", "rlmeta train needs an algorithm"),
    ("train foo", "unknown algo 'foo'"),
    ("train ppoo", "did you mean ppo"),
    ("train os:path", "is not an agent class"),
    ("train nosuchmodule:Agent", "cannot import agent"),
    ("train ppo --nosuch 3", "Unrecognized options: --nosuch"),
    ("train ppo --total-step 10", "did you mean --total-steps"),
    ("train ppo --no-normalize-ob", "did you mean --no-normalize-obs"),
    ("train ppo extra_positional", "Unrecognized options: extra_positional"),
    ("train ppo --normalize-obs 3", "Unrecognized options: 3"),
    ("train sac --tau 0.5", "`rlmeta train sac --help` lists every flag"),
    ("train ppo --total-steps abc", "expected an integer"),
    ("train ppo --total-steps 1.5", "expected an integer"),
    ("train ppo --total-steps 1e6x", "expected an integer"),
    ("train ppo --checkpoint-every 5.5e0", "expected an integer"),
    ("train ppo --total-steps", "Missing value for argument '--total-steps'"),
    ("train ppo --device gpu", "invalid choice 'gpu'"),
    ("train ppo --env-backend foo", "invalid choice 'foo'"),
    ("train ppo --wandb maybe", "invalid choice 'maybe'"),
    ("train ppo --hidden-sizes a b", "--hidden-sizes"),
    ("train alphazero --simulations 8", "did you mean --num-simulations"),
    ("train ppo --actor-lr abc", "--actor-lr"),
    # train: values out of range
    ("train ppo --seed -1", "--seed must be >= 0"),
    ("train ppo --seed 1180591620717411303424", "--seed must be in [0, 2**32 - 1]"),
    ("train ppo --seed 4294967296", "--seed must be in [0, 2**32 - 1]"),
    ("train ppo --num-steps 1e30", "--num-steps is too large"),
    ("train ppo --env-threads -3", "--env-threads must be >= 0"),
    ("train ppo --torch-threads -1", "--torch-threads must be >= 0"),
    ("train ppo --num-envs 0", "--num-envs must be positive"),
    ("train ppo --total-steps 0", "--total-steps must be positive"),
    ("train ppo --total-steps -1e6", "--total-steps must be positive, got -1000000"),
    ("train ppo --checkpoint-every 0", "--checkpoint-every must be positive"),
    ("train ppo --actor-lr nan", "--actor-lr"),
    ("train ppo --gamma 2", "--gamma: invalid value"),
    ("train ppo --video-size 1", "--video-size must be >= 16"),
    ("train ppo --encoder-precision fp16", "--encoder-precision must be fp32 or bf16, got 'fp16'"),
    # preset files
    ("train ppo --preset nope", "unknown preset 'nope'"),
    ("train ppo --preset {d}/missing.yaml", "does not exist"),
    ("train ppo --preset {d}", "unknown preset"),
    ("train ppo --preset {d}/bad_type.yaml", "actor_lr: expected float, got 'abc'"),
    ("train ppo --preset {d}/unknown_key.yaml", "unknown key 'actor_lrr' (did you mean actor_lr?)"),
    ("train ppo --preset {d}/list.yaml", "must be a mapping"),
    ("train ppo --preset {d}/invalid.yaml", "is not valid YAML"),
    ("train ppo --preset {d}/bad_tuple.yaml", "hidden_sizes: expected a list"),
    ("train ppo --preset {d}/fraction.yaml", "total_steps: expected int, got 1.5"),
    ("train ppo --preset {d}/bad_choice.yaml", "device: expected one of auto, cpu, cuda"),
    ("train ppo --preset {d}/sac_best.yaml", "is for sac, not ppo"),
    ("train ppo --preset {d}/bad_base.yaml", "unknown base preset 'nope'"),
    ("train ppo --preset {d}/env_int.yaml", "env: expected str, got 5"),
    # bad run directories and output paths
    ("train ppo --run-dir ''", "--run-dir must name a directory"),
    ("bench smoke --report-only --out {d}/afile.txt", "afile.txt: exists and is not a directory"),
    ("plot {run} --out {d}/afile.txt", "afile.txt: exists and is not a directory"),
    ("render {run} --out {d}/afile.txt/clip.mp4", "afile.txt: exists and is not a directory"),
    (
        "sweep ppo --env Hopper-v5 --space {d}/space.yaml --trials 2 --out {d}/afile.txt",
        "afile.txt: exists and is not a directory",
    ),
    ("train ppo --resume {d}/nosuchdir", "no config.json"),
    ("train ppo --resume {d}/afile.txt", "is a file, not a run directory"),
    ("train ppo --resume {d}/bad_config", "not a mapping of config fields"),
    ("train ppo --resume {d}/typo_config", "unknown key"),
    ("train sac --resume {run}", "is a ppo run, not sac"),
    # bench
    ("bench nosuchsuite", "unknown suite"),
    ("bench smoke --seeds abc", "expected an integer"),
    ("bench smoke --jobs 0", "--jobs must be >= 1"),
    ("bench smoke --budget 10m", "invalid choice"),
    ("bench smoke --executor k8s", "invalid choice"),
    ("bench smoke --nosuch", "Unrecognized options: --nosuch"),
    ("bench smoke --only", "--only: expected at least one ALGO_OR_ENV"),
    # plot / compare
    ("plot", "give at least one run directory"),
    ("plot {d}/nosuch", "no run directories"),
    ("plot {run} --metric nosuch", "--metric nosuch: no run has this progress.csv column"),
    ("plot {run} --metric charts/episodic_retrun", "did you mean charts/episodic_return"),
    ("plot {run} --smooth 0", "--smooth must be >= 1"),
    ("plot {run} --smooth abc", "expected an integer"),
    ("compare {d}/nosuch", "no run directories"),
    ("compare {run} --metric nosuch", "--metric nosuch"),
    ("compare {run} --nosuch", "Unrecognized options: --nosuch"),
    # eval / arena / play (board games)
    ("eval chess --checkpoint x.pt", "chess"),
    ("eval tictactoe --checkpoint {d}/nosuch.pt", "no checkpoint"),
    ("arena tictactoe random random --games 0", "--games must be >= 1"),
    ("arena tictactoe random random --games abc", "expected an integer"),
    ("arena chess random random", "unknown board game 'chess'"),
    ("play tictactoe --seat 2", "invalid choice"),
    # meta-train
    ("meta-train", "rlmeta meta-train needs a task family"),
    ("meta-train nosuch", "unknown task family 'nosuch'"),
    ("meta-train sine --nosuch", "Unrecognized options: --nosuch"),
    ("meta-train sine --k-shot abc", "expected an integer"),
    ("meta-train sine --meta-iterations -1", "--meta-iterations must be positive"),
    ("meta-train sine --seed 1180591620717411303424", "--seed must be in [0, 2**32 - 1]"),
    ("meta-train point --adapt foo", "invalid choice 'foo'"),
    ("meta-train --resume {d}/nosuchdir", "no config.json"),
    ("meta-train sine --run-dir ''", "--run-dir must name a directory"),
    # render
    ("render {d}/nosuch", "no config.json"),
    ("render {run} --size 1", "--size must be >= 16"),
    ("render {run} --size abc", "expected an integer"),
    ("render {run} --episodes 0", "--episodes must be positive"),
    ("render {run} --seed -1", "--seed must be in [0, 2**32 - 1]"),
    ("render {run} --device gpu", "invalid choice"),
    # sweep
    ("sweep ppo", "missing required arguments: --env --space --trials --out"),
    ("sweep foo --env Hopper-v5 --space {d}/space.yaml --trials 2 --out {d}/sw", "unknown algo 'foo'"),
    ("sweep ppo --env Nope-v0 --space {d}/space.yaml --trials 2 --out {d}/sw", "unknown env 'Nope-v0'"),
    ("sweep ppo --env Hopper-v5 --space {d}/missing.yaml --trials 2 --out {d}/sw", "does not exist"),
    ("sweep ppo --env Hopper-v5 --space {d}/space.yaml --trials 0 --out {d}/sw", "--trials must be positive"),
    (
        "sweep ppo --env Hopper-v5 --space {d}/space.yaml --trials 2 --out {d}/sw --total-steps 1.5",
        "expected an integer",
    ),
    (
        "sweep ppo --env Hopper-v5 --space {d}/space.yaml --trials 2 --out {d}/sw --seed 1180591620717411303424",
        "--seed must be in [0, 2**32 - 1]",
    ),
    (
        "sweep ppo --env Hopper-v5 --space {d}/space.yaml --trials 2 --out {d}/sw --cpus-per-trial 0",
        "--cpus-per-trial must be positive",
    ),
    (
        "sweep ppo --env Hopper-v5 --space {d}/space_bad_fixed.yaml --trials 2 --out {d}/sw",
        "ent_coef: expected float, got 'lots'",
    ),
    # the top level
    ("nosuchcmd", "unknown command 'nosuchcmd'"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli_errors")
    texts = {
        "bad_type.yaml": "actor_lr: abc\n",
        "unknown_key.yaml": "actor_lrr: 0.001\n",
        "list.yaml": "- 1\n- 2\n",
        "invalid.yaml": "a: [1,\n",
        "bad_tuple.yaml": "hidden_sizes: 5\n",
        "fraction.yaml": "total_steps: 1.5\n",
        "bad_choice.yaml": "device: gpu\n",
        "sac_best.yaml": "algo: sac\npi_lr: 0.001\n",
        "bad_base.yaml": "preset: nope\n",
        "env_int.yaml": "env: 5\n",
        "afile.txt": "not a run\n",
        "space.yaml": "actor_lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n",
        "space_bad_fixed.yaml": "actor_lr: {type: float, low: 1.0e-5, high: 1.0e-3}\nent_coef: lots\n",
    }
    for name, text in texts.items():
        (d / name).write_text(text)
    (d / "bad_config").mkdir()
    (d / "bad_config" / "config.json").write_text("[1, 2]")
    (d / "typo_config").mkdir()
    (d / "typo_config" / "config.json").write_text(json.dumps({"algo": "ppo", "totl_steps": 5}))
    run = d / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "ppo", "env": "Hopper-v5", "seed": 0}))
    (run / "progress.csv").write_text("global_step,charts/episodic_return\n4000,10.0\n8000,20.0\n")
    return d


@pytest.fixture
def no_runs(monkeypatch):
    """A malformed call that is accepted fails the test at once instead of training for an hour."""
    import rlmeta.app.meta_run
    import rlmeta.app.runner
    import rlmeta.app.sweep.cli
    import rlmeta.benchmarks.executors

    def accepted(*args, **kwargs):
        raise AssertionError("the malformed call was accepted and started a run")

    monkeypatch.setattr(rlmeta.app.runner, "train", accepted)
    monkeypatch.setattr(rlmeta.app.meta_run, "run_meta_training", accepted)
    monkeypatch.setattr(rlmeta.benchmarks.executors, "run_local", accepted)
    monkeypatch.setattr(rlmeta.app.sweep.cli, "run_local", accepted)  # where cmd_sweep looks it up


@pytest.mark.parametrize("call,message", MALFORMED, ids=[c for c, _ in MALFORMED])
def test_malformed_call_is_one_line_and_exit_2(call, message, files, capsys, no_runs):
    argv = [a.format(d=files, run=files / "run") for a in shlex.split(call)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("rlmeta: error: ") and message in lines[0], lines[0]
    assert not (files / "sw").exists()  # a refused sweep leaves no folder behind


def test_integer_flags_take_1e6_exactly():
    from rlmeta.app.cli import parse_train_args

    _, cfg = parse_train_args("ppo", ["--total-steps", "1e6", "--checkpoint-every", "5e4", "--seed", "1_000"])
    assert (cfg.total_steps, cfg.checkpoint_every, cfg.seed) == (1_000_000, 50_000, 1000)
    assert all(type(v) is int for v in (cfg.total_steps, cfg.checkpoint_every, cfg.seed))
    # exact, not through a float: 2**53 + 1 would round to 2**53 in float64
    _, cfg = parse_train_args("ppo", ["--total-steps", "9007199254740993"])
    assert cfg.total_steps == 2**53 + 1


def test_preset_file_values_are_typed_like_the_command_line(tmp_path):
    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.app.cli import load_preset

    path = tmp_path / "p.yaml"
    # YAML 1.1 reads 3e-4 (no dot) and 2e5 as strings; lists are tuples in the config
    path.write_text("preset: spinningup\nactor_lr: 3e-4\ntotal_steps: 2e5\nhidden_sizes: [32, 32]\n")
    cfg = load_preset(PPOConfig, str(path), "ppo")
    assert cfg.actor_lr == 3e-4 and cfg.total_steps == 200_000 and type(cfg.total_steps) is int
    assert cfg.hidden_sizes == (32, 32) and cfg.num_steps == PPOConfig.presets()["spinningup"].num_steps


@pytest.mark.parametrize(
    "module, argv",
    [
        ("optuna", "sweep ppo --env Hopper-v5 --space {d}/space.yaml --trials 2 --out {d}/sw"),
        ("imageio", "render {run}"),
        ("imageio_ffmpeg", "render {run}"),
    ],
)
def test_missing_optional_extra_is_one_line(module, argv, files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if not installed
    assert main([a.format(d=files, run=files / "run") for a in argv.split()]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlmeta: error: ") and "pip install -e '.[" in lines[0], lines


def test_capture_video_without_imageio_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio", None)
    rd = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "Hopper-v5",
                "--total-steps",
                "512",
                "--num-steps",
                "256",
                "--capture-video",
                "--run-dir",
                str(rd),
                "--no-progress",
            ]
        )
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "`video` extra" in lines[0], lines
    assert not (rd / "progress.csv").exists()


def test_errors_that_need_no_agent_come_back_before_torch_is_imported(tmp_path):
    """`rlmeta train foo` and friends answer without importing torch (seconds on a busy machine):
    checked on sys.modules in a fresh interpreter, not by timing."""
    calls = [
        ["train", "foo"],
        ["train", "ppoo", "--env", "Hopper-v5"],
        ["meta-train", "nosuch"],
        ["sweep", "foo", "--env", "Hopper-v5", "--space", "s.yaml", "--trials", "2", "--out", str(tmp_path)],
        ["bench", "nosuchsuite"],
        ["plot", str(tmp_path / "none")],
        ["compare", str(tmp_path / "none")],
        ["render", str(tmp_path / "none")],
        ["nosuchcmd"],
        # board games: an unknown game, a bad flag, a missing player, a missing checkpoint
        ["eval", "chess"],
        ["arena", "chess", "random", "random"],
        ["play", "chess"],
        ["eval", "tictactoe", "--bogus"],
        ["eval", "tictactoe"],
        ["arena", "connect4", str(tmp_path / "none.pt"), "random", "--games", "0"],
        ["play", "tictactoe", "--checkpoint", str(tmp_path / "none.pt")],
    ]
    code = (
        "import json, sys\nfrom rlmeta.app.cli import main\nout = []\n"
        f"for argv in {calls!r}:\n"
        "    out.append([main(argv), 'torch' in sys.modules])\n"
        "print(json.dumps(out))\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    results = json.loads(p.stdout.strip().splitlines()[-1])
    assert [rc for rc, _ in results] == [2] * len(calls), p.stderr
    assert [imported for _, imported in results] == [False] * len(calls)
    assert len(p.stderr.strip().splitlines()) == len(calls)  # one line per call


def test_board_game_names_known_without_torch_are_the_registered_games():
    from rlmeta.app.boardgames import GAME_NAMES
    from rlmeta.envs.board import GAMES

    # the built-in games (a test or a tutorial may have registered one of its own in this process)
    assert tuple(k for k, v in GAMES.items() if v.startswith("rlmeta.envs.board.")) == GAME_NAMES


def test_custom_module_class_agent_still_trains_from_the_cli(tmp_path, monkeypatch):
    """The static name check lets `module:Class` through to the import."""
    (tmp_path / "my_agent.py").write_text(
        "from rlmeta.agents.onpolicy.ppo import PPO\n\n\nclass MyPPO(PPO):\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from rlmeta.app.cli import parse_train_args

    agent_cls, cfg = parse_train_args("my_agent:MyPPO", ["--total-steps", "2e3"])
    assert agent_cls.__name__ == "MyPPO" and cfg.total_steps == 2000


def _fuzz_calls() -> list[list[str]]:
    """Every numeric flag of every agent, with a value that no flag accepts: a word for any number,
    NaN and infinity for a float, a fraction for an integer (seeded choice of flags per algo)."""
    import dataclasses
    import typing

    from rlmeta.app.registry import ALGOS, get_agent

    calls = []
    for algo in sorted(ALGOS):
        hints = typing.get_type_hints(get_agent(algo).Config)
        for f in dataclasses.fields(get_agent(algo).Config):
            kind = hints[f.name]
            flag = "--" + f.name.replace("_", "-")
            if kind is int:
                calls += [["train", algo, flag, "abc"], ["train", algo, flag, "1.5"]]
            elif kind is float:
                calls += [["train", algo, flag, "abc"], ["train", algo, flag, "nan"], ["train", algo, flag, "inf"]]
    return calls


FUZZ = _fuzz_calls()


@pytest.mark.parametrize("argv", FUZZ, ids=[" ".join(c[1:]) for c in FUZZ])
def test_fuzzed_numeric_flag_is_one_line_and_exit_2(argv, capsys, no_runs):
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("rlmeta: error:"), err
