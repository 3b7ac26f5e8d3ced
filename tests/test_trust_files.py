"""Faults and bad input, round three. Someone else's run directory (a tarball, a shared folder) is
data, never instructions: rlmeta does not write through a symlinked or hard-linked `.lock`, and does
not import a module that a run dir's config.json names. A `--seeds` group resumes after a kill at any
moment; unreadable files, a full disk, a diverged iteration, an unreachable W&B server and sizes that
cannot fit each get one line and lose nothing. Each test plants the fault and checks the outcome."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from test_trust import one_error_line  # the CLI error contract's one-line check
from torch import nn

from rlmeta.app.cli import main
from rlmeta.app.runner import run_dir_lock
from rlmeta.core.errors import ConfigError

PPO = [
    "--env",
    "Hopper-v5",
    "--num-envs",
    "2",
    "--num-steps",
    "64",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--total-steps",
    "128",
    "--no-progress",
]


@pytest.fixture()
def victim(tmp_path):
    v = tmp_path / "victim.txt"
    v.write_text("precious\n")
    return v


def test_symlinked_lock_is_never_written_through(tmp_path, victim, capsys):
    run = tmp_path / "H"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    assert main(["train", "ppo", "--run-dir", str(run), *PPO]) == 2
    one_error_line(capsys, "symbolic link")
    assert victim.read_text() == "precious\n"
    # a finished run with a planted link: --resume refuses too (before "nothing to do")
    assert main(["train", "ppo", "--run-dir", str(tmp_path / "ok"), *PPO]) == 0
    capsys.readouterr()
    (tmp_path / "ok" / ".lock").unlink()
    (tmp_path / "ok" / ".lock").symlink_to(victim)
    assert main(["train", "ppo", "--resume", str(tmp_path / "ok"), "--no-progress"]) == 2
    one_error_line(capsys, "symbolic link")
    assert victim.read_text() == "precious\n"


def test_hard_linked_or_special_lock_is_refused(tmp_path, victim):
    run = tmp_path / "H"
    run.mkdir()
    os.link(victim, run / ".lock")
    with pytest.raises(ConfigError, match="hard link"), run_dir_lock(run):
        pass
    assert victim.read_text() == "precious\n"
    (run / ".lock").unlink()
    os.mkfifo(run / ".lock")  # would hang a blocking open
    with pytest.raises(ConfigError, match="not a regular file"), run_dir_lock(run):
        pass


def test_lock_of_a_normal_run_dir_still_holds_the_pid(tmp_path):
    run = tmp_path / "H"
    with run_dir_lock(run):
        assert (run / ".lock").read_text() == f"{os.getpid()}\n"


def _evil_module(folder: Path, marker: Path) -> None:
    (folder / "evilmod.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from rlmeta.agents.onpolicy.ppo import PPO as Agent\n"
    )


def test_render_never_imports_a_module_named_in_config_json(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--run-dir", str(run), *PPO]) == 0
    capsys.readouterr()
    cfg = json.loads((run / "config.json").read_text())
    cfg["algo"] = "evilmod:Agent"
    (run / "config.json").write_text(json.dumps(cfg))
    marker = tmp_path / "ran.txt"
    _evil_module(tmp_path, marker)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # even where the module would be importable
    assert main(["render", str(run)]) == 2
    one_error_line(capsys, "evilmod:Agent", "--agent")
    assert not marker.exists() and "evilmod" not in sys.modules


def test_train_resume_checks_the_run_before_importing_a_named_module(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--run-dir", str(run), *PPO]) == 0
    capsys.readouterr()
    marker = tmp_path / "ran.txt"
    _evil_module(tmp_path, marker)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "evilmod:Agent", "--resume", str(run)]) == 2
    one_error_line(capsys, "is a ppo run, not evilmod:Agent")
    assert not marker.exists() and "evilmod" not in sys.modules


def test_user_module_is_found_after_installed_packages(tmp_path, monkeypatch):
    """The working directory is searched last, so a local folder never shadows an installed package."""
    from rlmeta.app import registry

    (tmp_path / "searched_last.py").write_text("from rlmeta.agents.onpolicy.ppo import PPO as Mine\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path), ".")])
    assert registry.get_agent("searched_last:Mine").algo == "ppo"
    assert sys.path[-1] == "" and "" not in sys.path[:-1]


SAC = [
    "--env",
    "Hopper-v5",
    "--hidden-sizes",
    "16",
    "--batch-size",
    "16",
    "--start-steps",
    "50",
    "--update-after",
    "50",
    "--update-every",
    "25",
    "--eval-every",
    "0",
    "--log-every",
    "100",
    "--buffer-size",
    "1000",
    "--checkpoint-every",
    "100",
    "--no-progress",
    "--torch-threads",
    "1",
]


def test_seeds_group_killed_between_first_checkpoints_resumes(tmp_path, capsys):
    """Seed 0 has its checkpoint, seed 1 was killed before its first (a temp file only): the same
    command with --resume continues the group, and an off-policy suite's rerun (which picks --resume)
    no longer fails."""
    pattern = str(tmp_path / "x-s{seed}")
    assert main(["train", "sac", "--seeds", "2", "--run-dir", pattern, "--total-steps", "100", *SAC]) == 0
    s1 = tmp_path / "x-s1"
    (s1 / "checkpoint.pt").rename(s1 / "checkpoint.pt.tmp-killed")
    (s1 / "done").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["train", "sac", "--seeds", "2", "--resume", pattern, "--total-steps", "200", *SAC]) == 0
    err = capsys.readouterr().err
    assert "seed 1:" in err and "starts afresh" in err
    from rlmeta.core.checkpoint import load_checkpoint

    for s in range(2):
        ck = load_checkpoint(tmp_path / f"x-s{s}" / "checkpoint.pt")
        assert ck["global_step"] == 200 and ck["config"]["seed"] == s


def test_seeds_resume_reads_the_first_seed_off_the_run_dirs(tmp_path, capsys):
    pattern = str(tmp_path / "g-s{seed}")
    assert (
        main(["train", "sac", "--seeds", "2", "--seed", "5", "--run-dir", pattern, "--total-steps", "100", *SAC]) == 0
    )
    capsys.readouterr()
    assert main(["train", "sac", "--seeds", "2", "--resume", pattern, "--total-steps", "200", *SAC]) == 0
    assert "resuming seeds 5..6" in capsys.readouterr().err
    from rlmeta.core.checkpoint import load_checkpoint

    assert [load_checkpoint(tmp_path / f"g-s{s}" / "checkpoint.pt")["global_step"] for s in (5, 6)] == [200, 200]
    # a pattern that matches nothing says what to pass
    assert main(["train", "sac", "--seeds", "2", "--resume", str(tmp_path / "none-s{seed}"), *SAC]) == 2
    one_error_line(capsys, "pass --seed S")


def test_resume_with_an_unreadable_progress_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--run-dir", str(run), *PPO, "--checkpoint-every", "128"]) == 0
    capsys.readouterr()
    (run / "progress.csv").write_bytes(b"global_step,x\n\xff\xfe\x00garbage\n")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert main(["train", "ppo", "--resume", str(run), "--total-steps", "256", "--no-progress"]) == 2
    one_error_line(capsys, "progress.csv", "not a readable progress file")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01", b"global_step,a\n1,notanumber\n", b"a,b\n1,2\n", b"\x00\x00"])
def test_compare_and_plot_skip_a_garbage_progress_file_in_one_line(tmp_path, capsys, content):
    good = tmp_path / "runs" / "good"
    assert main(["train", "ppo", "--run-dir", str(good), *PPO]) == 0
    bad = tmp_path / "runs" / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"algo": "ppo", "env": "Hopper-v5", "seed": 1}))
    (bad / "progress.csv").write_bytes(content)
    capsys.readouterr()
    for cmd in (["compare", str(tmp_path / "runs")], ["plot", str(tmp_path / "runs"), "--out", str(tmp_path / "p")]):
        assert main(cmd) == 0
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert any(ln.startswith(f"rlmeta: skipping {bad}") for ln in err) and "Traceback" not in "\n".join(err)


def test_a_finite_but_diverged_iteration_is_never_checkpointed(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--run-dir", str(run), *PPO, "--checkpoint-every", "128"]) == 0
    from rlmeta.core.checkpoint import load_checkpoint

    good = (run / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "ppo",
                "--resume",
                str(run),
                "--total-steps",
                "1024",
                "--actor-lr",
                "1e10",
                "--critic-lr",
                "1e10",
                "--no-progress",
            ]
        )
        == 2
    )
    line = one_error_line(capsys)
    assert "diverged" in line or "non-finite" in line
    assert "last good checkpoint (step 128) is kept" in line
    assert (run / "checkpoint.pt").read_bytes() == good and load_checkpoint(run / "checkpoint.pt")["global_step"] == 128


def test_check_finite_catches_finite_divergence():
    from rlmeta.app.runner import NonFiniteError, check_finite

    agent = nn.Linear(2, 2)  # finite parameters
    check_finite(agent, {"losses/approx_kl": 0.02, "losses/policy_loss": -0.1, "losses/value_loss": 3e6}, 10, None)
    with pytest.raises(NonFiniteError, match=r"diverged at step 20 \(losses/approx_kl = 3.9e\+09\).*step 10"):
        check_finite(agent, {"losses/approx_kl": 3.9e9}, 20, 10)
    with pytest.raises(NonFiniteError, match=r"losses/policy_loss = 4.5e\+21"):
        check_finite(agent, {"losses/policy_loss": 4.5e21}, 20, None)


def test_wandb_online_without_a_server_falls_back_to_offline_at_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run = tmp_path / "run"
    assert main(["train", "ppo", "--run-dir", str(run), *PPO, "--wandb", "online"]) == 0
    err = capsys.readouterr().err
    assert "W&B server is not reachable; logging offline" in err and "Traceback" not in err
    assert list((run / "wandb").glob("offline-run-*/run-*.wandb"))
    assert (run / "checkpoint.pt").is_file()


def test_a_fifo_or_device_as_checkpoint_is_refused_without_hanging(tmp_path):
    from rlmeta.core.checkpoint import CheckpointError, load_checkpoint

    fifo = tmp_path / "checkpoint.pt"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(CheckpointError, match="not a regular file"):
            load_checkpoint(path)


@pytest.mark.parametrize(
    "call",
    [
        ["train", "ppo", "--env", "Hopper-v5", "--hidden-sizes", "100000000", "100000000"],
        ["train", "ppo", "--env", "Hopper-v5", "--num-envs", "1000000"],
        ["train", "ppo", "--env", "Hopper-v5", "--num-steps", "1000000000000000"],
        ["train", "ppo", "--env", "Hopper-v5", "--torch-threads", "1000000"],
        ["train", "alphazero", "--env", "tictactoe", "--num-envs", "1e8"],
        ["train", "sac", "--env", "Hopper-v5", "--buffer-size", "1e13"],
        ["arena", "tictactoe", "random", "random", "--games", "1000000000000"],
        ["meta-train", "sine", "--hidden-sizes", "-3"],
        ["meta-train", "sine", "--hidden-sizes", "0"],
        ["meta-train", "sine", "--eval-steps", "-1"],
        ["meta-train", "sine", "--hidden-sizes", "1000000000", "1000000000"],
        ["train", "sac", "--seeds", "1000000000", "--env", "Hopper-v5"],
    ],
    ids=lambda c: " ".join(c),
)
def test_sizes_that_cannot_fit_are_refused_before_allocating(call, tmp_path, capsys):
    """Before the fix these were tracebacks after a failed allocation, a segfault (torch threads), or a
    run that built a million simulators for an hour (--num-envs, --seeds): now one line, rc 2, and no
    run directory."""
    run = tmp_path / "run"
    argv = call + (["--run-dir", str(run)] if call[0] in ("train", "meta-train") and "--seeds" not in call else [])
    assert main(argv) == 2
    one_error_line(capsys)
    assert not run.exists()


def test_disk_full_at_start_names_the_file_and_leaves_no_temp(tmp_path, capsys, monkeypatch):
    import builtins
    import errno

    from rlmeta.core import fileio

    def full_open(path, mode="r", *a, **kw):
        f = builtins.open(path, mode, *a, **kw)  # noqa: SIM115 (returned to the caller, who closes it)
        if "w" in mode or "a" in mode:

            def write(_text):
                raise OSError(errno.ENOSPC, "No space left on device")

            f.write = write
        return f

    monkeypatch.setattr(fileio, "open", full_open, raising=False)
    run = tmp_path / "run"
    assert main(["train", "ppo", "--run-dir", str(run), *PPO]) == 2
    line = one_error_line(capsys, "No space left on device")
    assert str(run / "config.json") in line
    assert not list(tmp_path.rglob("*.tmp"))
