"""Episode videos: `--capture-video` during training, `rlmeta render`, one-line errors.

Frame counts are checked against an independent replay: the checkpointed policy run again on a
plain (non-rendering) gymnasium env from the same seed gives the episode length L; a video holds
the reset frame plus one frame per step, L + 1.
"""

import glob
import json
import sys
import time
import types

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("imageio_ffmpeg")

from rlmeta.app.cli import main
from rlmeta.app.runner import VIDEO_SEED_OFFSET, build_agent
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.recording import read_frames

SMALL = [
    "--num-envs",
    "2",
    "--num-steps",
    "256",
    "--num-minibatches",
    "4",
    "--update-epochs",
    "2",
    "--no-progress",
    "--device",
    "cpu",
]


def _replay_length(run_dir, seed: int) -> tuple[int, float]:
    """Episode length and return of the run's final deterministic policy on a non-rendering env."""
    from rlmeta.agents.onpolicy.ppo import PPOConfig

    saved = json.loads((run_dir / "config.json").read_text())
    saved.pop("algo")
    ck = load_checkpoint(run_dir / "checkpoint.pt")
    agent = build_agent("ppo", PPOConfig.from_dict(saved).replace(capture_video=False))
    agent.load_state_dict(ck["agent"])
    agent.envs.obs_rms.load_state_dict(ck["env"]["obs_rms"])
    env = gym.make(saved["env"])
    obs, _ = env.reset(seed=seed)
    length, ret = 0, 0.0
    while True:
        a = agent.act(agent.envs.normalize(np.asarray(obs, np.float32)[None]), True)[0]
        obs, r, term, trunc, _ = env.step(np.clip(a, env.action_space.low, env.action_space.high))
        length, ret = length + 1, ret + float(r)
        if term or trunc:
            break
    env.close()
    agent.envs.close()
    return length, ret


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    rd = tmp_path_factory.mktemp("video") / "run"
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
                "1",
                "--run-dir",
                str(rd),
                "--checkpoint-every",
                "512",
                "--capture-video",
                "--video-size",
                "64",
                "--wandb",
                "offline",
                *SMALL,
            ]
        )
        == 0
    )
    return rd


def test_capture_video_writes_decodable_mp4_with_expected_frames(video_run):
    rd = video_run
    videos = sorted(p.name for p in (rd / "videos").glob("*.mp4"))
    assert videos == ["step-000000512.mp4", "step-000001024.mp4"]  # every checkpoint (video_every=1)
    assert (rd / "videos" / videos[-1]).stat().st_size > 1000
    frames = read_frames(rd / "videos" / videos[-1])
    length, ret = _replay_length(rd, seed=1 + VIDEO_SEED_OFFSET)
    assert frames.shape == (length + 1, 64, 64, 3) and frames.dtype == np.uint8
    # a rendered scene, not a blank buffer: sky (top rows) darker than the lit floor (bottom rows)
    assert frames[:, :8].mean() < frames[:, -8:].mean() and frames.std() > 20
    # W&B holds the video as a media file with the same episode
    from wandb_reader import history_rows, read_records

    (wb,) = glob.glob(str(rd / "wandb" / "offline-run-*" / "run-*.wandb"))
    for _ in range(60):  # wandb-core may still be flushing
        recs = read_records(wb)
        if any(r.WhichOneof("record_type") == "exit" for r in recs):
            break
        time.sleep(0.5)
    vids = [h for h in history_rows(recs) if "videos/episode/path" in h]
    assert [h["global_step"] for h in vids] == [512, 1024]
    assert vids[-1]["videos/length"] == length and vids[-1]["videos/return"] == pytest.approx(ret, rel=1e-5)
    media = glob.glob(str(rd / "wandb" / "offline-run-*" / "files" / vids[-1]["videos/episode/path"]))
    assert len(media) == 1 and read_frames(media[0]).shape[0] == length + 1


def test_recording_does_not_change_training(video_run, tmp_path):
    """Videos use their own env and the deterministic policy: the same run without them logs the
    same losses bit for bit."""
    rd = tmp_path / "novideo"
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
                "1",
                "--run-dir",
                str(rd),
                "--checkpoint-every",
                "512",
                *SMALL,
            ]
        )
        == 0
    )
    import csv

    def rows(d):
        with open(d / "progress.csv") as f:
            return [(r["global_step"], r["losses/value_loss"], r["charts/episodic_return"]) for r in csv.DictReader(f)]

    assert rows(rd) == rows(video_run) and not (rd / "videos").exists()


def test_render_cli_mp4_and_gif(video_run, capsys, tmp_path):
    out = tmp_path / "clip.mp4"
    assert (
        main(["render", str(video_run), "--episodes", "2", "--out", str(out), "--gif", "--size", "48", "--seed", "5"])
        == 0
    )
    printed = capsys.readouterr().out
    lengths = [int(line.rsplit("length ", 1)[1]) for line in printed.splitlines() if line.startswith("episode")]
    assert lengths == [_replay_length(video_run, seed=5)[0], _replay_length(video_run, seed=6)[0]]
    frames = read_frames(out)
    assert frames.shape == (sum(lengths) + 2, 48, 48, 3)
    import imageio.v2 as imageio

    gif = imageio.mimread(out.with_suffix(".gif"))
    # Hopper renders at 125 fps; the GIF keeps every 5th frame (<= 25 fps)
    assert len(gif) == -(-(sum(lengths) + 2) // 5) and gif[0].shape[:2] == (48, 48)


def test_render_board_game_calls_render_game(tmp_path, capsys, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"algo": "alphazero", "env": "tictactoe"}))
    calls = []
    fake = types.ModuleType("rlmeta.app.boardgames")
    fake.render_game = lambda run_dir, episodes: calls.append((run_dir, episodes)) or "X|O|X\n-+-+-\n..."
    monkeypatch.setitem(sys.modules, "rlmeta.app.boardgames", fake)
    out = tmp_path / "game.txt"
    assert main(["render", str(tmp_path), "--episodes", "3", "--out", str(out)]) == 0
    assert calls == [(str(tmp_path), 3)]
    assert "X|O|X" in capsys.readouterr().out and out.read_text().startswith("X|O|X")


def test_render_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        main(["render", "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())  # tyro's help, its box borders out
    assert "in pixels. (default: 480)" in out and "after another. (default: 1)" in out


@pytest.mark.parametrize(
    "args,msg",
    [
        (["render", "/nonexistent/run"], "no config.json"),
        (["render", "RUN", "--episodes", "0"], "--episodes must be positive"),
        (
            ["train", "ppo", "--env", "Hopper-v5", "--video-every", "0", "--capture-video"],
            "--video-every must be positive",
        ),
    ],
)
def test_bad_input_one_line_error(args, msg, capsys, video_run):
    args = [str(video_run) if a == "RUN" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlmeta: error:") and msg in err and len(err.splitlines()) == 1


def test_capture_video_unrenderable_env_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)  # Pendulum renders through pygame: here it cannot
    rd = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "Pendulum-v1",
                "--total-steps",
                "512",
                "--run-dir",
                str(rd),
                "--capture-video",
                *SMALL,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "cannot render" in err or "rendering of 'Pendulum-v1' failed" in err
    assert len(err.splitlines()) == 1 and not rd.exists()
