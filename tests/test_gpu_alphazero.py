"""benchmarks/gpu_alphazero.py (AlphaZero's GPU check) in a tiny configuration on the CPU: it trains
the connect4-gpu preset (shrunk), evaluates on Pons' sets during training, writes the report, CSVs,
plot and a small checkpoint, and that checkpoint is what `rlmeta eval / arena / play` load."""

from __future__ import annotations

import csv
import io
import sys

import pytest
import torch
from figures import assert_figure  # tests/figures.py

from rlmeta.agents.alphazero.agent import AlphaZeroConfig


def test_connect4_gpu_preset_is_alphazero_jl_sized():
    cfg = AlphaZeroConfig.presets()["connect4-gpu"]
    cfg.validate()
    assert (cfg.env, cfg.num_envs, cfg.channels, cfg.blocks) == ("connect4", 4096, 128, 5)
    assert cfg.replay_size >= cfg.min_replay >= cfg.batch_size


def test_one_batch_evaluation_equals_mistake_rate_per_set():
    """The script scores all Pons sets in one batch; per set that equals evaluate.mistake_rate."""
    from rlmeta.agents.alphazero.evaluate import mistake_rate
    from rlmeta.agents.alphazero.network import PolicyValueNet
    from rlmeta.agents.alphazero.players import NetworkPlayer
    from rlmeta.benchmarks.alphazero_connect4 import labelled_sets
    from rlmeta.benchmarks.gpu_alphazero import Positions
    from rlmeta.envs.board import make

    torch.manual_seed(0)
    player = NetworkPlayer(make("connect4", 1), PolicyValueNet((2, 6, 7), 7, 8, 1, 8).eval(), 0)
    sets = labelled_sets(20)
    got = Positions(sets, torch.device("cpu")).mistake_rates(player, batch=50)
    want = {n: 100.0 * mistake_rate(player, data) for n, data in sets.items()}
    assert got == pytest.approx(want, abs=1e-4) and len(got) == 6 and max(got.values()) > 0


def test_gpu_alphazero_script_tiny_on_cpu(tmp_path, monkeypatch):
    from rlmeta.app import boardgames as cli
    from rlmeta.benchmarks import gpu_alphazero

    out = tmp_path / "gpu_az"
    assert (
        gpu_alphazero.main(
            [
                "--device",
                "cpu",
                "--num-envs",
                "16",
                "--num-simulations",
                "4",
                "--channels",
                "8",
                "--blocks",
                "1",
                "--batch-size",
                "32",
                "--min-replay",
                "16",
                "--moves-per-iteration",
                "12",
                "--updates-per-iteration",
                "2",
                "--max-iters",
                "3",
                "--eval-every-s",
                "0",
                "--eval-sims",
                "4",
                "--limit",
                "8",
                "--search",
                "puct",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    md = (out / "gpu_alphazero.md").read_text()
    assert_figure(out / "gpu_alphazero.png")
    rows = list(csv.DictReader((out / "gpu_alphazero_train.csv").open()))
    assert [int(r["global_step"]) for r in rows] == [192, 384, 576]  # 16 games x 12 moves per iteration
    assert int(rows[-1]["games"]) > 0 and float(rows[-1]["losses/policy_loss"]) > 0  # games ended, the learner ran
    evals = list(csv.DictReader((out / "gpu_alphazero_eval.csv").open()))
    assert [int(r["global_step"]) for r in evals] == [192, 384, 576]  # --eval-every-s 0: after every iteration
    for r in evals:
        rates = [float(v) for k, v in r.items() if k.startswith(("raw:", "search:"))]
        assert len(rates) == 12 and all(0 <= x <= 100 and (8 * x / 100) % 1 < 1e-9 for x in rates)  # k of 8 positions
    assert "16 self-play games at once, puct search with 4 simulations per move" in md
    assert "raw policy and puct search with 4 simulations (no root noise)" in md
    assert "in 100.0% of the 48 positions" in md  # the checkpoint reloaded on the CPU plays the same moves
    assert "CPU run, preset connect4, one core" in md  # the committed CPU run is read for the comparison

    ckpt = out / "checkpoint.pt"
    assert ckpt.stat().st_size < 200_000  # weights and config only
    assert cli.cmd_eval(["connect4", "--checkpoint", str(ckpt), "--limit", "3", "--simulations", "4"]) == 0
    assert cli.cmd_arena(["connect4", str(ckpt), "random", "--games", "2"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("quit\n"))
    assert cli.cmd_play(["connect4", "--checkpoint", str(ckpt), "--seat", "1", "--simulations", "2"]) == 0
