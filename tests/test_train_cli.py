"""The `rlmeta train` contract: files written, one-line errors, resume continues exactly, W&B offline."""

import csv
import glob
import json
import time

import numpy as np
import pytest
import torch

from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.seeding import rng_state

SMALL = ["--num-envs", "2", "--num-steps", "256", "--num-minibatches", "4", "--update-epochs", "2", "--no-progress"]


def _rows(run_dir):
    with open(run_dir / "progress.csv") as f:
        return list(csv.DictReader(f))


def test_train_writes_contract_files(tmp_path):
    rd = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "Hopper-v5",
                "--total-steps",
                "1024",
                "--seed",
                "3",
                "--run-dir",
                str(rd),
                "--device",
                "cpu",
                *SMALL,
            ]
        )
        == 0
    )
    cfg = json.loads((rd / "config.json").read_text())
    assert cfg["algo"] == "ppo" and cfg["env"] == "Hopper-v5" and cfg["seed"] == 3 and cfg["num_envs"] == 2
    rows = _rows(rd)
    assert [int(r["global_step"]) for r in rows] == [512, 1024]
    assert "charts/episodic_return" in rows[0] and float(rows[-1]["charts/episodic_return"]) > 0
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["global_step"] == 1024 and ck["algo"] == "ppo"


@pytest.mark.parametrize(
    "args,msg",
    [
        (["train", "nosuchalgo"], "unknown algo 'nosuchalgo'"),
        (["train", "ppo", "--env", "HalfCheeta-v5", "--total-steps", "10"], "unknown env 'HalfCheeta-v5'"),
        (["train", "sac", "--env", "CartPole-v1", "--total-steps", "10"], "continuous (Box) action space"),
        (["train", "ppo", "--total-steps", "-5"], "--total-steps must be positive"),
        (["train", "ppo", "--gamma", "1.5"], "--gamma: invalid value 1.5"),
        (["train", "ppo", "--preset", "nope"], "unknown preset 'nope'"),
    ],
)
def test_bad_input_one_line_error(args, msg, capsys, tmp_path):
    assert main([*args, "--run-dir", str(tmp_path / "r")] if len(args) > 2 else args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlmeta: error:") and msg in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_corrupt_checkpoint_is_reported_and_kept(tmp_path, capsys):
    rd = tmp_path / "run"
    assert main(["train", "ppo", "--env", "Hopper-v5", "--total-steps", "512", "--run-dir", str(rd), *SMALL]) == 0
    (rd / "checkpoint.pt").write_bytes(b"garbage")
    assert main(["train", "ppo", "--resume", str(rd), "--total-steps", "1024"]) == 2
    err = capsys.readouterr().err
    assert "corrupt checkpoint" in err and len(err.strip().splitlines()) == 1
    assert (rd / "checkpoint.pt").read_bytes() == b"garbage"  # nothing overwritten
    # refusing to start over an existing run without --resume
    (rd / "checkpoint.pt").unlink()
    assert main(["train", "ppo", "--env", "Hopper-v5", "--total-steps", "512", "--run-dir", str(rd), *SMALL]) == 0
    assert main(["train", "ppo", "--env", "Hopper-v5", "--total-steps", "512", "--run-dir", str(rd), *SMALL]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_resume_after_kill_continues_bitwise(tmp_path, monkeypatch):
    """A run killed after 2 of 3 iterations and resumed ends with exactly the parameters, optimizer,
    normaliser and RNG state of an uninterrupted run (the batched MuJoCo backend checkpoints physics)."""
    from rlmeta.agents.onpolicy import ppo

    common = ["train", "ppo", "--env", "HalfCheetah-v5", "--total-steps", "1536", "--checkpoint-every", "512", *SMALL]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert main([*common, "--run-dir", str(full)]) == 0
    final_rng = rng_state()

    original = ppo.PPO.iteration
    calls = {"n": 0}

    def dying_iteration(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(ppo.PPO, "iteration", dying_iteration)
    assert main([*common, "--run-dir", str(killed)]) == 130
    assert load_checkpoint(killed / "checkpoint.pt")["global_step"] == 1024
    monkeypatch.setattr(ppo.PPO, "iteration", original)
    assert main(["train", "ppo", "--resume", str(killed)]) == 0

    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(killed / "checkpoint.pt")
    assert a["global_step"] == b["global_step"] == 1536
    for k in a["agent"]["actor"]:
        assert torch.equal(a["agent"]["actor"][k], b["agent"]["actor"][k]), k
    assert torch.equal(a["agent"]["critic_opt"]["v"], b["agent"]["critic_opt"]["v"])
    assert np.array_equal(a["env"]["obs_rms"]["mean"], b["env"]["obs_rms"]["mean"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert torch.equal(rng_state()["torch"], final_rng["torch"])
    # progress.csv continues without duplicates and with the same returns
    ra, rb = _rows(full), _rows(killed)
    assert [r["global_step"] for r in ra] == [r["global_step"] for r in rb] == ["512", "1024", "1536"]
    assert [r["losses/value_loss"] for r in ra] == [r["losses/value_loss"] for r in rb]


def test_wandb_offline_run_holds_metrics_and_config(tmp_path):
    from wandb_reader import config_values, history_rows, read_records, run_info

    rd = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "Hopper-v5",
                "--total-steps",
                "1024",
                "--run-dir",
                str(rd),
                "--wandb",
                "offline",
                "--seed",
                "7",
                "--wandb-name",
                "hop-custom",
                *SMALL,
            ]
        )
        == 0
    )
    files = glob.glob(str(rd / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    recs = read_records(files[0])
    for _ in range(60):  # wandb-core may still be flushing the file when finish() returns
        if any(r.WhichOneof("record_type") == "exit" for r in recs):
            break
        time.sleep(0.5)
        recs = read_records(files[0])
    hist = history_rows(recs)
    csv_rows = _rows(rd)
    assert [h["global_step"] for h in hist] == [512, 1024]
    assert hist[-1]["charts/episodic_return"] == pytest.approx(float(csv_rows[-1]["charts/episodic_return"]))
    cfg = config_values(recs)
    assert cfg["algo"] == "ppo" and cfg["env"] == "Hopper-v5" and cfg["seed"] == 7 and cfg["num_steps"] == 256
    info = run_info(recs)
    assert info.run_group == "ppo-Hopper-v5" and info.display_name == "hop-custom"


def test_help_lists_every_hyperparameter(capsys):
    from dataclasses import fields

    from rlmeta.agents.onpolicy.ppo import PPOConfig

    with pytest.raises(SystemExit) as e:
        main(["train", "ppo", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for f in fields(PPOConfig):
        assert "--" + f.name.replace("_", "-") in out, f.name


def test_spinningup_preset_values():
    from rlmeta.agents.onpolicy.ppo import PPOConfig

    su = PPOConfig.presets()["spinningup"]
    assert su.num_steps * su.num_envs == 4000 and su.update_epochs == 80 and su.num_minibatches == 1
    assert su.hidden_sizes == (64, 32) and su.target_kl == 0.01 and su.gae_lambda == 0.97
    assert not su.normalize_obs and PPOConfig().normalize_obs
