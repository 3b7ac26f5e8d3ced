"""AlphaZero resumes bit for bit: a short tic-tac-toe run killed after a checkpoint and
resumed with --resume ends with exactly the checkpoint of the same run left uninterrupted (every
tensor: network, optimizer, replay buffer, the games in progress with their search trees, RNGs)
and the same progress.csv rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint

torch.set_num_threads(1)

# 64 self-play moves per iteration (16 games x 4 moves): games of up to 9 plies are in progress at
# every checkpoint, and the learner starts updating from the second iteration
SMALL = [
    "--env",
    "tictactoe",
    "--num-envs",
    "16",
    "--moves-per-iteration",
    "4",
    "--min-replay",
    "64",
    "--updates-per-iteration",
    "2",
    "--batch-size",
    "32",
    "--num-simulations",
    "4",
    "--channels",
    "8",
    "--value-hidden",
    "8",
    "--no-progress",
    "--device",
    "cpu",
    "--seed",
    "3",
]


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two checkpoint payloads differ (tensors: dtype, shape and every value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in one" for k in set(a) ^ set(b)]
        return out + [d for k in a if k in b for d in differences(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [path]
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return [] if a.dtype == b.dtype and np.array_equal(a, b) else [path]
    return [] if type(a) is type(b) and a == b else [path]


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "progress.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "extra", [[], ["--search", "puct", "--solver", "--value-target-mix", "0.5"]], ids=["gumbel", "puct-solver"]
)
@pytest.mark.parametrize("stop", ["kill", "half"])
def test_resumed_run_matches_uninterrupted_run(tmp_path, monkeypatch, extra, stop):
    """stop=kill: killed inside the iteration after the checkpoint at step 320; stop=half: a run
    of --total-steps 320 continued with --resume --total-steps 640. Both end as the 640-step run."""
    from rlmeta.agents.alphazero import agent as az

    common = ["train", "alphazero", *SMALL, *extra, "--checkpoint-every", "320"]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert main([*common, "--total-steps", "640", "--run-dir", str(full)]) == 0

    if stop == "kill":
        original = az.AlphaZero.iteration
        calls = {"n": 0}

        def dying_iteration(self):
            calls["n"] += 1
            if calls["n"] == 7:  # after the checkpoint at step 320 (iteration 5), mid-way to the next
                raise KeyboardInterrupt
            return original(self)

        monkeypatch.setattr(az.AlphaZero, "iteration", dying_iteration)
        assert main([*common, "--total-steps", "640", "--run-dir", str(resumed)]) == 130
        monkeypatch.setattr(az.AlphaZero, "iteration", original)
    else:
        assert main([*common, "--total-steps", "320", "--run-dir", str(resumed)]) == 0
    mid = load_checkpoint(resumed / "checkpoint.pt")
    assert mid["global_step"] == 320
    assert bool((mid["agent"]["selfplay"]["state"]["moves"] > 0).any())  # games were in progress
    assert mid["agent"]["selfplay"]["tree"]["num_nodes"].sum() > 0  # with their search trees
    assert main(["train", "alphazero", "--resume", str(resumed), "--total-steps", "640"]) == 0

    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(resumed / "checkpoint.pt")
    assert a["global_step"] == b["global_step"] == 640
    assert (
        differences({k: v for k, v in a.items() if k != "config"}, {k: v for k, v in b.items() if k != "config"}) == []
    )
    ra, rb = _rows(full), _rows(resumed)
    keep = [k for k in ra[0] if k not in ("charts/SPS", "time/elapsed")]  # wall-clock columns
    assert [[r[k] for k in keep] for r in ra] == [[r[k] for k in keep] for r in rb]


def test_resume_applies_a_learning_rate_override_and_rounding_is_said(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "alphazero", *SMALL, "--total-steps", "100", "--run-dir", str(run)]) == 0
    assert "stops at step 128" in capsys.readouterr().err  # 64 moves per iteration
    assert main(["train", "alphazero", "--resume", str(run), "--total-steps", "256", "--lr", "1e-4"]) == 0
    assert load_checkpoint(run / "checkpoint.pt")["agent"]["opt"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
