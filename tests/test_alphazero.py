"""AlphaZero end to end: a short tic-tac-toe run learns perfect play (checked by exact minimax over
all 4520 reachable positions), checkpoint resume, the eval/arena/play/render commands, the arena's
Elo arithmetic and the AlphaGo-style pieces (records, SL policy, value net, rollout mix)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch

from rlmeta.app.cli import main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ttt_run(tmp_path_factory) -> Path:
    """The default tictactoe preset (15k self-play moves, about 25 s of one core)."""
    run = tmp_path_factory.mktemp("az") / "ttt"
    assert (
        main(
            [
                "train",
                "alphazero",
                "--env",
                "tictactoe",
                "--run-dir",
                str(run),
                "--no-progress",
                "--device",
                "cpu",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    return run


def test_tictactoe_training_reaches_perfect_play(ttt_run, tmp_path):
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "tictactoe",
                "--checkpoint",
                str(ttt_run / "checkpoint.pt"),
                "--simulations",
                "64",
                "--games",
                "20",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())["results"]
    assert res["positions"] == 4520
    assert res["share"] == 1.0  # an optimal move in every reachable non-terminal position
    for seat in ("first", "second"):
        w, d, l = res["vs_perfect"][seat]
        assert l == 0 and w + d + l == 20  # never loses to the perfect player (it cannot win either)
        assert w == 0
    # the raw network alone (no search) is already close; a random player is far off
    assert (
        main(["eval", "tictactoe", "--checkpoint", str(ttt_run / "checkpoint.pt"), "--games", "0", "--json", str(out)])
        == 0
    )
    assert json.loads(out.read_text())["results"]["share"] > 0.95
    assert main(["eval", "tictactoe", "--player", "random", "--games", "0", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["results"]["share"] < 0.8


def test_resume_continues_from_checkpoint(tmp_path):
    from rlmeta.agents.alphazero.loading import load_network
    from rlmeta.core.checkpoint import load_checkpoint

    run = tmp_path / "r"
    common = [
        "--env",
        "tictactoe",
        "--num-envs",
        "32",
        "--min-replay",
        "64",
        "--updates-per-iteration",
        "2",
        "--num-simulations",
        "4",
        "--checkpoint-every",
        "256",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert main(["train", "alphazero", "--run-dir", str(run), "--total-steps", "256", *common]) == 0
    first = load_checkpoint(run / "checkpoint.pt")
    assert first["global_step"] == 256
    n_replay = first["agent"]["replay"]["value"].shape[0]
    assert n_replay > 0 and first["agent"]["replay"]["obs"].dtype == torch.uint8
    net0, _, _ = load_network(run / "checkpoint.pt")
    # a second `train` into the same dir without --resume is refused
    assert main(["train", "alphazero", "--run-dir", str(run), "--total-steps", "512", *common]) == 2
    assert main(["train", "alphazero", "--resume", str(run), "--total-steps", "512"]) == 0
    second = load_checkpoint(run / "checkpoint.pt")
    assert second["global_step"] == 512
    assert second["agent"]["replay"]["value"].shape[0] >= n_replay  # the replay buffer came back
    steps = [int(r.split(",")[0]) for r in (run / "progress.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == 512 and 256 in steps
    net1, _, _ = load_network(run / "checkpoint.pt")
    x = torch.rand(5, 2, 3, 3).round()
    assert not torch.allclose(net0(x)[0], net1(x)[0])  # it kept training


def test_arena_cli_counts_and_elo(ttt_run, tmp_path, capsys):
    out = tmp_path / "arena.json"
    assert (
        main(["arena", "tictactoe", str(ttt_run / "checkpoint.pt"), "random", "--games", "10", "--json", str(out)]) == 0
    )
    res = json.loads(out.read_text())
    assert res["wins"] + res["draws"] + res["losses"] == 10
    assert res["per_seat"]["first"][0] + res["per_seat"]["first"][1] + res["per_seat"]["first"][2] == 5
    assert res["losses"] == 0 and res["wins"] >= 5  # a near-perfect player against random
    assert "Elo(A) - Elo(B)" in capsys.readouterr().out
    # solver vs solver: all draws -> score 1/2, Elo 0, zero-width interval
    assert main(["arena", "tictactoe", "solver", "solver", "--games", "4", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert (res["draws"], res["score"], res["elo"], res["elo_ci"]) == (4, 0.5, 0.0, [0.0, 0.0])


def test_elo_and_interval_hand_computed():
    from rlmeta.agents.alphazero.players import ArenaResult, elo_from_score

    r = ArenaResult("a", "b", wins=6, draws=2, losses=2)
    assert r.score == pytest.approx(0.7)
    assert r.elo == pytest.approx(-400 * math.log10(1 / 0.7 - 1))  # +147.2
    var = (6 * 0.3**2 + 2 * 0.2**2 + 2 * 0.7**2) / 10
    half = 1.96 * math.sqrt(var / 10)
    lo, hi = r.elo_ci
    assert lo == pytest.approx(elo_from_score(0.7 - half)) and hi == pytest.approx(elo_from_score(0.7 + half))
    assert elo_from_score(1.0) == math.inf and elo_from_score(0.5) == 0.0


def test_play_cli_reads_stdin(ttt_run, monkeypatch, capsys):
    # the human (X) types a bad token, an occupied cell, then cells in order; the agent never loses
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n5\n5\n1\n2\n3\n4\n6\n7\n8\n9\n"))
    assert main(["play", "tictactoe", "--checkpoint", str(ttt_run / "checkpoint.pt"), "--simulations", "16"]) == 0
    text = capsys.readouterr().out
    assert "enter a cell 1-9" in text and "that move is not legal here" in text
    assert "agent plays" in text
    assert text.rstrip().splitlines()[-1] in ("draw", "the agent wins")
    # input that ends early stops the game politely
    from rlmeta.agents.alphazero.players import RandomPlayer
    from rlmeta.app.boardgames import play_terminal

    out = io.StringIO()
    assert play_terminal("connect4", RandomPlayer(), 1, io.StringIO(""), out) is None
    assert "bye" in out.getvalue() and "agent plays" in out.getvalue()


def test_render_game_text(ttt_run):
    from rlmeta.app.boardgames import render_game

    text = render_game(str(ttt_run), 2)
    assert text.count("game 1 of 2") == 1 and text.count("game 2 of 2") == 1
    assert "X plays" in text and "game over" in text


def test_connect4_eval_cli_and_pons_labels(tmp_path):
    out = tmp_path / "c4.json"
    assert main(["eval", "connect4", "--player", "minimax:3", "--limit", "20", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["results"]
    assert set(res) == {"End-Easy", "Middle-Easy", "Middle-Medium", "Begin-Easy", "Begin-Medium", "Begin-Hard"}
    assert all(r["positions"] == 20 for r in res.values())
    assert res["End-Easy"]["mistake_rate"] <= 0.1  # short tactics are within a depth-3 search
    # the solver never makes a mistake (labels and solver agree) on positions it can solve fast
    from rlmeta.agents.alphazero.evaluate import load_pons_set, mistake_rate
    from rlmeta.agents.alphazero.players import RandomPlayer, SolverPlayer

    data = load_pons_set(Path(__file__).resolve().parents[1] / "benchmarks/reference/connect4/Test_L3_R1", limit=50)
    assert mistake_rate(SolverPlayer("connect4"), data) == 0.0
    torch.manual_seed(0)
    assert 0.05 < mistake_rate(RandomPlayer(), data) < 0.6


def test_connect4_checkpoint_eval_and_arena(tmp_path):
    run = tmp_path / "c4"
    assert (
        main(
            [
                "train",
                "alphazero",
                "--preset",
                "connect4",
                "--total-steps",
                "64",
                "--num-envs",
                "16",
                "--num-simulations",
                "2",
                "--min-replay",
                "16",
                "--batch-size",
                "16",
                "--updates-per-iteration",
                "1",
                "--run-dir",
                str(run),
                "--no-progress",
                "--device",
                "cpu",
                "--solver",
            ]
        )
        == 0
    )
    ckpt = str(run / "checkpoint.pt")
    assert json.loads((run / "config.json").read_text())["solver"] is True  # self-play searched with the solver
    assert main(["eval", "connect4", "--checkpoint", ckpt, "--simulations", "4", "--limit", "3"]) == 0
    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "connect4",
                "--checkpoint",
                ckpt,
                "--simulations",
                "8",
                "--limit",
                "3",
                "--search",
                "puct",
                "--solver",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["player"] == "az:checkpoint.pt:8(puct+solver)"
    assert main(["arena", "connect4", ckpt, "mcts:8", "--games", "2"]) == 0
    # a checkpoint of another game is refused with one line
    assert main(["arena", "tictactoe", ckpt, "random", "--games", "2"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "chess", "--player", "random"],
        ["eval", "tictactoe", "--checkpoint", "/nonexistent/checkpoint.pt"],
        ["eval", "tictactoe"],
        ["eval", "othello", "--player", "random"],
        ["arena", "tictactoe", "random", "mcts:x"],
        ["arena", "tictactoe", "random", "minimax:3"],
        ["arena", "tictactoe", "random", "random", "--games", "0"],
        ["play", "connect4"],
        ["eval", "tictactoe", "--player", "random", "--bogus-flag"],
    ],
)
def test_bad_input_is_one_line_error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlmeta: error:")


# ---------------------------------------------------------------------- AlphaGo-style pieces
def test_records_roundtrip_and_validation(tmp_path):
    from rlmeta.agents.alphazero.players import SolverPlayer
    from rlmeta.agents.alphazero.pretrain import GameRecords, generate_games, read_records, write_records
    from rlmeta.core.errors import ConfigError

    torch.manual_seed(0)
    rec = generate_games("tictactoe", SolverPlayer("tictactoe", randomize=True), 30, random_plies=2)
    path = tmp_path / "games.txt"
    write_records(path, rec)
    assert path.read_text().splitlines()[0] == "# rlmeta game records v1 game=tictactoe"
    back = read_records(path)
    assert back == rec
    assert all(len(a) >= 5 for a in rec.actions)  # a win needs at least 5 plies
    write_records(path, GameRecords("tictactoe", [[4, 4]], [-2]))  # cell 4 twice
    with pytest.raises(ConfigError, match="illegal move"):
        read_records(path)
    write_records(path, GameRecords("tictactoe", [[0, 3, 1, 4, 2]], [1]))  # X won, recorded as O
    with pytest.raises(ConfigError, match="result"):
        read_records(path)


def test_alphago_pipeline_on_tictactoe(tmp_path):
    """Expert records from the perfect player -> SL policy + rollout policy -> value net from SL
    self-play -> search mixing value net and rollouts. Each stage is checked against the exact
    solver; the search beats the raw SL policy."""
    from rlmeta.agents.alphazero.evaluate import TicTacToeEvaluator
    from rlmeta.agents.alphazero.network import LinearRolloutPolicy, PolicyValueNet
    from rlmeta.agents.alphazero.players import NetworkPlayer, RandomPlayer, SolverPlayer
    from rlmeta.agents.alphazero.pretrain import (
        alphago_player,
        expert_samples,
        fit,
        generate_games,
        policy_sl_loss,
        read_records,
        value_data,
        value_loss,
        write_records,
    )
    from rlmeta.envs.board import make

    torch.manual_seed(0)
    write_records(
        tmp_path / "expert.txt",
        generate_games("tictactoe", SolverPlayer("tictactoe", randomize=True), 300, random_plies=2),
    )
    data = expert_samples(read_records(tmp_path / "expert.txt"))
    assert data.obs.shape[1:] == (2, 3, 3) and set(data.value.unique().tolist()) <= {-1.0, 0.0, 1.0}
    g = make("tictactoe", 1)
    policy = PolicyValueNet((2, 3, 3), 9, 32, 1)
    fit(policy, policy_sl_loss, data, steps=300, game=g)
    rollout = LinearRolloutPolicy((2, 3, 3), 9)
    fit(rollout, policy_sl_loss, data, steps=300, lr=1e-2, game=g)
    vdata = value_data("tictactoe", policy, 1500)
    assert vdata.obs.shape[0] == 1500  # one position per game
    value_net = PolicyValueNet((2, 3, 3), 9, 32, 1)
    fit(value_net, value_loss, vdata, steps=300, game=g)

    ev = TicTacToeEvaluator()
    random_share = ev.optimal_share(RandomPlayer())["share"]
    sl_share = ev.optimal_share(NetworkPlayer(g, policy, 0))["share"]
    ag_share = ev.optimal_share(alphago_player("tictactoe", policy, value_net, rollout, lam=0.5, num_simulations=32))[
        "share"
    ]
    assert random_share < 0.7 < sl_share < ag_share
    assert ag_share > 0.93
    # the value net ranks positions: on the exact winning / losing positions its mean value is ordered
    obs = ev.game.observation(ev.states)
    with torch.no_grad():
        v = value_net(obs)[1]
    assert v[ev.values == 1].mean() > v[ev.values == 0].mean() > v[ev.values == -1].mean()


def test_go9_preset_trains_and_plays_the_arena(tmp_path):
    """The go9 preset (shrunk) self-plays Go with the solver on, checkpoints, and its agent plays a
    full arena match to the end (Go games end by two passes or the 162-ply cap)."""
    run = tmp_path / "go"
    assert (
        main(
            [
                "train",
                "alphazero",
                "--preset",
                "go9",
                "--total-steps",
                "96",
                "--num-envs",
                "8",
                "--num-simulations",
                "2",
                "--min-replay",
                "16",
                "--batch-size",
                "16",
                "--updates-per-iteration",
                "1",
                "--run-dir",
                str(run),
                "--no-progress",
                "--device",
                "cpu",
                "--solver",
            ]
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["env"], cfg["preset"], cfg["solver"]) == ("go9", "go9", True)
    out = tmp_path / "arena.json"
    assert (
        main(
            [
                "arena",
                "go9",
                str(run / "checkpoint.pt"),
                "random",
                "--games",
                "2",
                "--simulations",
                "2",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["wins"] + res["draws"] + res["losses"] == 2 and set(res["per_seat"]) == {"first", "second"}


def test_elo_interval_after_a_clean_sweep_is_one_sided(capsys):
    """4-0 used to print `95% CI [+inf, +inf]`: the normal approximation has zero width when one side
    wins every game. The far end is now the exact binomial bound p^4 = 0.025 (score 0.398, -72 Elo)."""
    from rlmeta.agents.alphazero.players import ArenaResult, elo_from_score

    sweep = ArenaResult("a", "b", wins=4, draws=0, losses=0)
    lo, hi = sweep.score_ci
    assert lo == pytest.approx(0.025**0.25) and hi == 1.0
    assert sweep.elo_ci[0] == pytest.approx(elo_from_score(0.025**0.25)) == pytest.approx(-72, abs=0.5)
    assert "95% CI >= -72 (unbounded above)" in sweep.table() and "+inf, +inf" not in sweep.table()
    lost = ArenaResult("a", "b", wins=0, draws=0, losses=4)
    assert "95% CI <= +72 (unbounded below)" in lost.table()
    assert "95% CI [" in ArenaResult("a", "b", wins=6, draws=2, losses=2).table()  # two-sided otherwise
    with pytest.raises(SystemExit):
        main(["arena", "--help"])
    out = capsys.readouterr().out
    assert "95% confidence" in out and "%%" not in out


def test_play_without_an_opponent_names_the_opponent_flag(capsys):
    assert main(["play", "connect4"]) == 2
    err = capsys.readouterr().err
    assert "--opponent SPEC" in err and "--player" not in err


def test_throughput_report_machine_line(tmp_path, monkeypatch):
    """benchmarks/alphazero_throughput.py writes the machine it ran on (rlmeta.benchmarks.report.machine_line)
    and --note, not a hard-coded "2-core CPU shared with other jobs" (timers stubbed: no measuring)."""
    import sys

    from rlmeta.benchmarks import alphazero_throughput as bench
    from rlmeta.benchmarks.report import machine_line

    for name in ("time_openspiel_cpp", "time_openspiel_python", "time_ours"):
        monkeypatch.setattr(bench, name, lambda *a, **k: 1000.0)
    monkeypatch.setattr(bench, "time_network_share", lambda *a, **k: 0.5)
    out = tmp_path / "tp"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "alphazero_throughput.py",
            "--batches",
            "1",
            "--net-batches",
            "2",
            "--positions",
            "2",
            "--out",
            str(out),
            "--note",
            "busy machine",
        ],
    )
    assert bench.main() == 0
    text = out.with_suffix(".md").read_text()
    assert f"Machine: {machine_line()}; busy machine;" in text and "2-core CPU shared" not in text
    assert "--note 'busy machine'" in text  # the command line as run
