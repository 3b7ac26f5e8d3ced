"""Data and safety: checkpoints that never run code and verify a digest, atomic writes that
clean up after a kill and say "disk full" in one line, a NaN/inf guard that keeps the last good
checkpoint, one writer per run dir, bench children that die with their parent, a failed --resume
that leaves the run as it was, learning-rate overrides that reach the optimizer, and the console
noise a new user saw. Each test is the fault itself (a crafted file, flipped bytes, a second
writer, a kill, a truncated row), run against the real code."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rlmeta.app.cli import main
from rlmeta.app.runner import run_dir_lock
from rlmeta.core import checkpoint as ckpt_mod
from rlmeta.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

PPO = [
    "--env",
    "Hopper-v5",
    "--num-envs",
    "2",
    "--num-steps",
    "128",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--checkpoint-every",
    "256",
    "--no-progress",
]
SAC = [
    "--env",
    "Hopper-v5",
    "--hidden-sizes",
    "32",
    "32",
    "--batch-size",
    "32",
    "--start-steps",
    "100",
    "--update-after",
    "100",
    "--update-every",
    "50",
    "--eval-every",
    "0",
    "--log-every",
    "100",
    "--buffer-size",
    "2000",
    "--checkpoint-every",
    "200",
    "--no-progress",
]


def one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rlmeta: error:"), err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------- checkpoint files
class Evil:
    """Unpickling this would create `marker` (any callable could run here)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_a_crafted_checkpoint_never_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    for payload in (
        {"format": ckpt_mod.FORMAT, "agent": Evil(str(marker))},  # the whole file a pickle
        Evil(str(marker)),
    ):
        path = tmp_path / "evil.pt"
        torch.save(payload, path)
        with pytest.raises(CheckpointError, match="corrupt checkpoint"):
            load_checkpoint(path)
        assert not marker.exists()
    # an honest outer file whose inner payload asks for code: the digest matches, the unpickler refuses
    import hashlib
    import io

    inner = io.BytesIO()
    torch.save({"agent": Evil(str(marker))}, inner)
    blob = inner.getvalue()
    torch.save(
        {
            "format": ckpt_mod.FORMAT,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "payload": torch.frombuffer(bytearray(blob), dtype=torch.uint8),
        },
        tmp_path / "evil2.pt",
    )
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        load_checkpoint(tmp_path / "evil2.pt")
    assert not marker.exists()


def test_checkpoint_round_trips_numpy_and_rng_states_exactly(tmp_path):
    from rlmeta.core.seeding import rng_state

    np.random.seed(3)
    payload = {
        "rng": rng_state(),
        "obs_rms": {"mean": np.linspace(0, 1, 7), "count": np.float64(12.5)},
        "u32": np.arange(4, dtype=np.uint32),
        "flags": np.array([True, False]),
        "gen": torch.Generator().get_state(),
        "pcg": np.random.default_rng(1).bit_generator.state,
        "shape": (64, 64),
        "none": None,
    }
    save_checkpoint(tmp_path / "c.pt", payload)
    got = load_checkpoint(tmp_path / "c.pt")
    assert got["rng"]["python"] == payload["rng"]["python"]
    name, keys, pos, has_gauss, cached = got["rng"]["numpy"]
    assert name == "MT19937" and keys.dtype == np.uint32 and np.array_equal(keys, payload["rng"]["numpy"][1])
    assert (pos, has_gauss, cached) == tuple(payload["rng"]["numpy"][2:])
    assert got["obs_rms"]["mean"].dtype == np.float64 and np.array_equal(
        got["obs_rms"]["mean"], payload["obs_rms"]["mean"]
    )
    assert isinstance(got["obs_rms"]["count"], np.float64) and got["obs_rms"]["count"] == 12.5
    assert got["u32"].dtype == np.uint32 and got["flags"].tolist() == [True, False]
    assert torch.equal(got["gen"], payload["gen"]) and got["pcg"] == payload["pcg"]
    assert got["shape"] == (64, 64) and got["none"] is None


def test_flipped_bytes_fail_the_digest(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.randn(50_000)})
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(b ^ 0xFF for b in data[mid : mid + 64])
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        load_checkpoint(path)


def test_killed_write_temps_are_removed_and_directory_fsynced(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    stale = [tmp_path / "checkpoint.pt.abc123.tmp", tmp_path / "checkpoint.pt.x.tmp"]
    for s in stale:
        s.write_bytes(b"\0" * 1000)  # what a kill inside torch.save/fsync leaves behind
    synced = []
    monkeypatch.setattr(ckpt_mod, "_fsync_dir", lambda p: synced.append(p))
    save_checkpoint(path, {"x": 1})
    assert not any(s.exists() for s in stale) and load_checkpoint(path)["x"] == 1
    assert synced == [tmp_path]  # after the rename: the new directory entry is durable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_disk_full_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1})
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_mod.os, "fsync", full)
    with pytest.raises(CheckpointError, match=r"disk full.*previous checkpoint is intact"):
        save_checkpoint(path, {"step": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no temp file left


def test_truncated_progress_row_does_not_survive_resume(tmp_path):
    rd = tmp_path / "run"
    assert main(["train", "ppo", "--total-steps", "512", "--run-dir", str(rd), *PPO]) == 0
    csv_path = rd / "progress.csv"
    text = csv_path.read_text()
    # a kill while appending the next row: its first characters reached the file ("25" of "256...")
    csv_path.write_text(text + "25")
    assert main(["train", "ppo", "--resume", str(rd), "--total-steps", "768"]) == 0
    rows = csv_path.read_text().splitlines()[1:]
    assert [int(float(r.split(",")[0])) for r in rows] == [256, 512, 768]


# ---------------------------------------------------------------------- NaN / inf guard
def test_nonfinite_ppo_stops_with_one_line_and_keeps_the_good_checkpoint(tmp_path, capsys):
    rd = tmp_path / "run"
    assert main(["train", "ppo", "--total-steps", "512", "--run-dir", str(rd), *PPO]) == 0
    good = (rd / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert (
        main(
            ["train", "ppo", "--resume", str(rd), "--total-steps", "2048", "--actor-lr", "1e10", "--critic-lr", "1e10"]
        )
        == 2
    )
    one_error_line(capsys, "non-finite", "last good checkpoint (step 512) is kept")
    assert (rd / "checkpoint.pt").read_bytes() == good
    fresh = tmp_path / "fresh"
    assert (
        main(
            [
                "train",
                "ppo",
                "--total-steps",
                "2048",
                "--run-dir",
                str(fresh),
                "--actor-lr",
                "1e10",
                "--critic-lr",
                "1e10",
                *PPO,
            ]
        )
        == 2
    )
    one_error_line(capsys, "non-finite")
    assert not (fresh / "done").exists()
    if (fresh / "checkpoint.pt").exists():  # any checkpoint written before the blow-up is finite
        agent = load_checkpoint(fresh / "checkpoint.pt")["agent"]
        assert all(torch.isfinite(v).all() for v in agent["actor"].values())


def test_nonfinite_sac_maml_and_alphazero_stop_too(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "sac",
                "--total-steps",
                "600",
                "--run-dir",
                str(tmp_path / "sac"),
                "--pi-lr",
                "1e12",
                "--q-lr",
                "1e12",
                *SAC,
            ]
        )
        == 2
    )
    one_error_line(capsys, "non-finite")
    assert not (tmp_path / "sac" / "done").exists()
    assert (
        main(
            [
                "meta-train",
                "sine",
                "--meta-iterations",
                "40",
                "--meta-lr",
                "1e12",
                "--k-shot",
                "5",
                "--eval-tasks",
                "10",
                "--eval-query",
                "10",
                "--log-every",
                "10",
                "--checkpoint-every",
                "10",
                "--no-progress",
                "--run-dir",
                str(tmp_path / "maml"),
            ]
        )
        == 2
    )
    one_error_line(capsys, "non-finite")
    assert not (tmp_path / "maml" / "done").exists()
    assert (
        main(
            [
                "train",
                "alphazero",
                "--env",
                "tictactoe",
                "--total-steps",
                "3072",
                "--lr",
                "1e12",
                "--run-dir",
                str(tmp_path / "az"),
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    one_error_line(capsys, "non-finite", "parameters of net")
    assert not (tmp_path / "az" / "done").exists()


# ---------------------------------------------------------------------- one writer per run dir
def test_second_writer_on_a_run_dir_is_refused(tmp_path, capsys):
    rd = tmp_path / "run"
    with run_dir_lock(rd):  # what a running `rlmeta train` holds
        assert main(["train", "ppo", "--total-steps", "256", "--run-dir", str(rd), *PPO]) == 2
        one_error_line(capsys, "in use by another rlmeta process", f"pid {os.getpid()}")
        assert not (rd / "progress.csv").exists()
    assert main(["train", "ppo", "--total-steps", "256", "--run-dir", str(rd), *PPO]) == 0  # released


def test_run_dir_that_is_a_file_or_read_only_is_one_line(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["train", "ppo", "--total-steps", "256", "--run-dir", str(f), *PPO]) == 2
    one_error_line(capsys, "is a file")
    if os.geteuid() != 0:  # root ignores directory permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        assert main(["train", "ppo", "--total-steps", "256", "--run-dir", str(ro / "run"), *PPO]) == 2
        one_error_line(capsys, "cannot use run dir")


def test_bench_children_die_with_their_parent(tmp_path):
    """A parent that starts a child the way `rlmeta bench` does and is then killed with SIGKILL:
    the child gets SIGTERM instead of training on unattended."""
    script = (
        "import subprocess, sys, time\n"
        "from rlmeta.benchmarks.executors import die_with_parent\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], preexec_fn=die_with_parent())\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    for _ in range(200):  # poll for the child's exit (no timing is asserted, only that it ends)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # the child is reparented, so its zombie is reaped by init; check its state
        try:
            if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


# ---------------------------------------------------------------------- resume
def test_failed_resume_leaves_the_run_as_it_was(tmp_path, capsys):
    rd = tmp_path / "run"
    assert main(["train", "ppo", "--total-steps", "256", "--run-dir", str(rd), *PPO]) == 0
    (rd / "done").unlink()
    files = {p.name: p.read_bytes() for p in rd.iterdir() if p.is_file() and p.name != ".lock"}
    capsys.readouterr()
    assert main(["train", "ppo", "--resume", str(rd), "--total-steps", "512", "--hidden-sizes", "32", "32"]) == 2
    one_error_line(capsys, "--resume cannot change --hidden-sizes (64, 64) -> (32, 32)")
    assert {p.name: p.read_bytes() for p in rd.iterdir() if p.is_file() and p.name != ".lock"} == files
    assert main(["train", "ppo", "--resume", str(rd), "--total-steps", "512"]) == 0  # plain resume still works
    assert load_checkpoint(rd / "checkpoint.pt")["global_step"] == 512


@pytest.mark.parametrize("algo,flags,opt", [("ppo", ["--preset", "spinningup"], "actor_opt"), ("sac", [], "actor_opt")])
def test_learning_rate_override_on_resume_reaches_the_optimizer(tmp_path, algo, flags, opt):
    rd = tmp_path / algo
    common = PPO if algo == "ppo" else SAC
    assert (
        main(["train", algo, *flags, "--total-steps", "256" if algo == "ppo" else "200", "--run-dir", str(rd), *common])
        == 0
    )
    lr_flag = "--actor-lr" if algo == "ppo" else "--pi-lr"
    assert (
        main(
            ["train", algo, "--resume", str(rd), "--total-steps", "512" if algo == "ppo" else "400", lr_flag, "1.25e-5"]
        )
        == 0
    )
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["agent"][opt]["lr"] == pytest.approx(1.25e-5)
    field = "actor_lr" if algo == "ppo" else "pi_lr"
    assert json.loads((rd / "config.json").read_text())[field] == pytest.approx(1.25e-5)


def test_resume_of_a_finished_run_rewrites_nothing(tmp_path, capsys):
    rd = tmp_path / "run"
    assert main(["train", "ppo", "--total-steps", "256", "--run-dir", str(rd), *PPO]) == 0
    files = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in rd.iterdir() if p.is_file() and p.name != ".lock"}
    capsys.readouterr()
    assert main(["train", "ppo", "--resume", str(rd)]) == 0
    assert "already trained to step 256" in capsys.readouterr().err
    assert {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in rd.iterdir() if p.is_file() and p.name != ".lock"
    } == files


def test_total_steps_rounding_is_said_once(tmp_path, capsys):
    rd = tmp_path / "run"
    assert main(["train", "ppo", "--total-steps", "300", "--run-dir", str(rd), *PPO]) == 0
    err = capsys.readouterr().err
    assert err.count("rounded up") == 1 and "stops at step 512" in err
    assert load_checkpoint(rd / "checkpoint.pt")["global_step"] == 512


# ---------------------------------------------------------------------- noise
def test_console_progress_shows_only_reported_metrics(capsys, tmp_path):
    from rlmeta.core.logger import Logger

    log = Logger(tmp_path, "alphazero", {"env": "tictactoe"}, 100, progress=True)
    log._last_print = -1e9
    log.log(10, {"losses/value_loss": 0.5})  # AlphaZero / meta-training: no return, no SPS
    log._last_print = -1e9
    log.log(20, {"charts/episodic_return": 12.0, "charts/SPS": 300.0})
    log.close()
    err = capsys.readouterr().err
    assert "nan" not in err and "[10/100]" in err and "return=12.0" in err and "SPS=300" in err


def test_no_mujoco_or_wandb_noise(tmp_path):
    """HalfCheetah's XML made MuJoCo print a settotalmass deprecation on every run, and W&B suggested
    its LLM tracer because our package is called `agents`."""
    code = (
        "import sys; from rlmeta.app.cli import main; sys.exit(main(['train', 'ppo', '--env', 'HalfCheetah-v5', "
        "'--total-steps', '256', '--num-envs', '2', '--num-steps', '128', '--num-minibatches', '2', "
        f"'--update-epochs', '1', '--no-progress', '--wandb', 'offline', '--run-dir', r'{tmp_path / 'r'}']))"
    )
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("WANDB_SILENT", None)
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1]
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "settotalmass" not in out and "Weave" not in out and "Detected [" not in out
