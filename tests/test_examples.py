"""The tutorials' scripts (examples/, docs/tutorials/) run, at tiny sizes, and do what their pages say.

Each script is imported as a module (examples/ on sys.path, as `python examples/x.py` has it) and its
`main(argv)` is called in this process: one interpreter and one torch import for all of them.
`test_scripts_run_as_scripts` runs two of them the way a reader does, as `python examples/x.py`.
"""

from __future__ import annotations

import csv
import glob
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module", autouse=True)
def examples_on_path():
    """examples/ on sys.path for this module; afterwards the registries the examples add to (algorithms,
    board games, task families, gymnasium ids) and the example modules are as they were."""
    import gymnasium as gym

    from rlmeta.app.registry import ALGOS
    from rlmeta.envs.board import GAMES
    from rlmeta.envs.meta import FAMILIES

    saved = [(reg, dict(reg)) for reg in (ALGOS, GAMES, FAMILIES)]
    gym_ids = set(gym.registry)
    modules = set(sys.modules)
    sys.path.insert(0, str(EXAMPLES))
    yield
    sys.path.remove(str(EXAMPLES))
    for reg, before in saved:
        reg.clear()
        reg.update(before)
    for env_id in set(gym.registry) - gym_ids:
        del gym.registry[env_id]
    for name in set(sys.modules) - modules:
        if str(EXAMPLES) in str(getattr(sys.modules[name], "__file__", None) or ""):
            del sys.modules[name]


def _example(name: str):
    return importlib.import_module(name)


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "progress.csv").open() as f:
        return list(csv.DictReader(f))


def test_loss_term_is_logged_next_to_the_agents_own_losses(tmp_path):
    run = _example("loss_term").main(["--total-steps", "512", "--num-steps", "256", "--run-dir", str(tmp_path / "l2")])
    rows = _rows(run)
    assert [int(r["global_step"]) for r in rows] == [256, 512]
    assert all(float(r["losses/action_l2"]) > 0 and r["losses/policy_loss"] for r in rows)
    assert json.loads((run / "config.json").read_text())["algo"] == "ppo-l2"


def test_network_hooks_build_the_network_that_trains(tmp_path):
    import torch

    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.app.runner import build_agent

    mod = _example("network_hooks")
    agent = build_agent(
        "layernorm-ppo",
        PPOConfig(env="Hopper-v5", num_steps=64, num_minibatches=2, update_epochs=1, total_steps=64, progress=False),
    )
    try:
        norm = agent.actor.mu[1]
        assert isinstance(norm, torch.nn.LayerNorm) and agent.critic.v[0].out_features == 256
        before = norm.weight.detach().clone()
        agent.iteration()
        assert not torch.equal(before, norm.weight.detach())  # the optimizer stepped the new layer too
    finally:
        agent.envs.close()
    run = mod.main(["--total-steps", "256", "--num-steps", "128", "--run-dir", str(tmp_path / "ln")])
    assert [int(r["global_step"]) for r in _rows(run)] == [128, 256]


def test_own_env_trains_from_python_and_the_cli(tmp_path, monkeypatch):
    mod = _example("own_env")
    run = mod.main(["--total-steps", "2048", "--run-dir", str(tmp_path / "py")])
    rows = _rows(run)
    assert [int(r["global_step"]) for r in rows] == [2048]
    # 4 envs x 512 steps of 50-step episodes: 40 episodes ended, returns are sums of -|pos - target|
    assert -100 < float(rows[0]["charts/episodic_return"]) < 0

    from rlmeta.app.cli import main as rlmeta

    monkeypatch.chdir(EXAMPLES)  # `module:Class` agents are imported from the working directory
    assert (
        rlmeta(
            [
                "train",
                "own_env:PPO",
                "--env",
                mod.ENV_ID,
                "--total-steps",
                "512",
                "--num-steps",
                "256",
                "--num-envs",
                "2",
                "--run-dir",
                str(tmp_path / "cli"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["env"] == mod.ENV_ID


def test_wandb_compare_writes_one_grouped_tagged_run_per_arm_and_seed(tmp_path):
    from wandb_reader import history_rows, read_records, run_info

    out = tmp_path / "wb"
    runs = _example("wandb_compare").main(
        ["--seeds", "2", "--total-steps", "256", "--num-steps", "256", "--out", str(out)]
    )
    assert sorted(r.name for r in runs) == ["baseline-s0", "baseline-s1", "l2-s0", "l2-s1"]
    for run in runs:
        files = glob.glob(str(run / "wandb" / "offline-run-*" / "run-*.wandb"))
        assert len(files) == 1
        recs = read_records(files[0])
        for _ in range(60):  # wandb-core may still be flushing the file when finish() returns
            if any(r.WhichOneof("record_type") == "exit" for r in recs):
                break
            time.sleep(0.5)
            recs = read_records(files[0])
        arm, seed = run.name.split("-s")
        info = run_info(recs)
        assert info.run_group == f"{arm}-Hopper-v5" and info.display_name == f"{arm}-Hopper-v5-s{seed}"
        assert {"exp:action-l2", f"arm:{arm}"} <= set(info.tags) and info.project == "rlmeta-tutorial"
        hist = history_rows(recs)
        assert [h["global_step"] for h in hist] == [256]
        assert ("losses/action_l2" in hist[0]) == (arm == "l2")  # the variant logs its extra loss


def test_ray_suite_runs_on_a_local_ray_and_summarises(tmp_path):
    pytest.importorskip("ray")
    out = _example("ray_suite").main(["--jobs", "2", "--only", "ppo", "--out", str(tmp_path / "suite")])
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["algo"], r["env"], r["seeds"]) for r in rows} == {("ppo", "Hopper-v5", "2")}
    for name in ("ppo-Hopper-v5-s0", "ppo-Hopper-v5-s1"):
        assert (out / name / "done").read_text().split()[0] == "2000"  # the results came back from the workers
    assert not (out / "vpg-Hopper-v5-s0").exists()  # --only ppo
    assert (out / "Hopper-v5.png").exists()


def test_optuna_sweep_writes_a_best_preset_that_trains(tmp_path):
    pytest.importorskip("optuna")
    import yaml

    out = _example("optuna_sweep").main(
        ["--trials", "2", "--total-steps", "512", "--final-steps", "512", "--out", str(tmp_path / "sweep")]
    )
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["algo"] == "ppo" and best["env"] == "Pendulum-v1"
    assert 1e-4 <= best["actor_lr"] <= 3e-3 and best["update_epochs"] in (1, 2, 3)
    cfg = json.loads((out / "best-run" / "config.json").read_text())
    assert cfg["actor_lr"] == pytest.approx(best["actor_lr"]) and cfg["num_steps"] == 256  # the preset was used
    assert [int(r["global_step"]) for r in _rows(out / "best-run")] == [256, 512]


def test_train_on_gpu_falls_back_to_the_cpu(tmp_path, capsys):
    mod = _example("train_on_gpu")
    run = mod.main(["--total-steps", "512", "--num-envs", "2", "--cpu", "--run-dir", str(tmp_path / "gpu")])
    assert "falling back to the CPU" in capsys.readouterr().out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["device"] == "cpu" and cfg["num_envs"] == 2
    assert [int(r["global_step"]) for r in _rows(run)] == [512]


def test_board_game_is_a_game_alphazero_trains_on(tmp_path, capsys):
    import torch

    mod = _example("board_game")
    from rlmeta.envs.board import make

    game = make("three-on-four", 2)
    s = game.step(game.reset(), torch.tensor([0, 0]))
    s = game.step(s, torch.tensor([4, 5]))
    s = game.step(s, torch.tensor([1, 1 + 8]))
    s = game.step(s, torch.tensor([5, 10]))
    s = game.step(s, torch.tensor([2, 2]))  # row 0: cells 0, 1, 2 of player 0 in game 0 only
    assert s.terminal.tolist() == [True, False] and s.winner.tolist() == [0, -1]

    run = mod.main(
        ["--total-steps", "512", "--simulations", "4", "--arena-games", "4", "--run-dir", str(tmp_path / "az")]
    )
    rows = _rows(run)
    # 64 games x 4 moves per iteration; finished games fill the replay buffer
    assert [int(r["global_step"]) for r in rows] == [256, 512] and float(rows[-1]["charts/replay_size"]) > 0
    assert "vs random: 4 games" in capsys.readouterr().out


def test_maml_family_meta_trains_and_evaluates(tmp_path):
    run = _example("maml_family").main(
        [
            "--meta-iterations",
            "2",
            "--meta-batch",
            "2",
            "--rollouts",
            "2",
            "--eval-tasks",
            "2",
            "--run-dir",
            str(tmp_path / "maml"),
        ]
    )
    result = json.loads((run / "eval.json").read_text())
    assert result["env"] == "line-goal" and result["horizon"] == 20 and result["eval_tasks"] == 2
    assert sorted(result["return_after_steps"]) == ["0", "1", "2"]
    assert [int(r["global_step"]) for r in _rows(run)][:2] == [160, 320]  # 2 tasks x 2 rollouts x 20 steps x 2


def test_scripts_run_as_scripts(tmp_path):
    """`python examples/x.py`: as the tutorials say to run them (the registrations name __main__)."""
    for script, args in (
        ("board_game.py", ["--total-steps", "256", "--simulations", "2", "--arena-games", "2"]),
        ("own_env.py", ["--total-steps", "2048"]),
    ):
        p = subprocess.run(
            [sys.executable, str(EXAMPLES / script), *args, "--run-dir", str(tmp_path / script)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        assert (tmp_path / script / "done").exists()
