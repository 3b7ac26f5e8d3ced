"""Atari through ALE's native vector env (real ROMs from ale-py): frame stacks, episodic-life and
reward-clipping bookkeeping checked against ALE's own life-loss and clipping signals, true episode
returns, the Nature CNN (float32 and bfloat16), PPO's shared encoder and uint8 rollout storage, and one-line errors."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("ale_py", reason="the atari extra (ale-py) is not installed")

from ale_py.vector_env import AtariVectorEnv

from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig
from rlmeta.app.cli import main
from rlmeta.core.errors import ConfigError
from rlmeta.core.networks import NatureCNN, SharedEncoder
from rlmeta.envs import make_vec_env
from rlmeta.envs.atari import AtariBackend, game_settings, is_atari


def test_atari_ids_map_to_games_and_sticky_actions():
    assert game_settings("BreakoutNoFrameskip-v4") == ("breakout", 0.0)
    assert game_settings("ALE/MsPacman-v5") == ("ms_pacman", 0.25)
    assert game_settings("ALE/SpaceInvaders-v5") == ("space_invaders", 0.25)
    assert is_atari("PongNoFrameskip-v4") and not is_atari("Pong-v4") and not is_atari("HalfCheetah-v5")


def test_backend_against_ales_own_life_loss_and_clipping_signals():
    """Same game, seed and actions in our backend and in ALE's vector env with its own episodic-life and
    reward-clipping switched on: the learner's terminals and rewards must equal ALE's, while the episode
    statistics see the raw score and only the games that ended."""
    n, steps = 2, 700
    ours = AtariBackend("BreakoutNoFrameskip-v4", n, threads=1)
    ref = AtariVectorEnv(
        "breakout",
        n,
        num_threads=1,
        repeat_action_probability=0.0,
        life_loss_info=True,
        reward_clipping=True,
        autoreset_mode="SameStep",
    )
    obs = ours.reset(seed=3)
    ref_obs, _ = ref.reset(seed=3)
    assert obs.dtype == np.uint8 and obs.shape == (n, 4, 84, 84)
    np.testing.assert_array_equal(obs, ref_obs)
    rng = np.random.default_rng(0)
    lives_lost = games = nonzero = 0
    score, scores = np.zeros(n), []
    for _ in range(steps):
        a = rng.integers(0, ours.single_action_space.n, n)
        prev = obs
        obs, r, term, trunc, final_obs, info = ours.step(a)
        ref_obs, ref_r, ref_term, ref_trunc, _ = ref.step(a)
        np.testing.assert_array_equal(obs, ref_obs)
        np.testing.assert_array_equal(r, ref_r)  # sign clipping == ALE's clipping
        np.testing.assert_array_equal(term, ref_term)  # life loss or game over == ALE's life_loss_info
        np.testing.assert_array_equal(trunc, ref_trunc)
        over = info["episode_over"]
        # frame stack: the oldest frame drops out, the rest move up by one (no reset in between)
        same = ~over
        np.testing.assert_array_equal(obs[same, :3], prev[same, 1:])
        np.testing.assert_array_equal(final_obs[same], obs[same])
        nonzero += int((info["raw_reward"] != 0).sum())
        lives_lost += int((term & ~over).sum())
        score += info["raw_reward"]
        for i in np.flatnonzero(over):
            games += 1
            scores.append(score[i])
            score[i] = 0
            # SAME_STEP: the stack ending the game is in final_obs, obs is the new game's
            np.testing.assert_array_equal(final_obs[i, :3], prev[i, 1:])
    assert nonzero > 0 and lives_lost >= 4 and games >= 1, (nonzero, lives_lost, games)
    ours.close()
    ref.close()


def test_episode_statistics_are_game_scores_not_lives():
    envs = make_vec_env("BreakoutNoFrameskip-v4", num_envs=2, seed=1)
    raw = AtariVectorEnv(
        "breakout", 2, num_threads=1, repeat_action_probability=0.0, reward_clipping=False, autoreset_mode="SameStep"
    )  # no life signal: an episode is a game
    envs.reset()
    raw.reset(seed=int(envs.seed))  # the VecEnv seeds its first reset with its seed
    rng = np.random.default_rng(1)
    got, expect, acc, lengths, length = [], [], np.zeros(2), [], np.zeros(2, np.int64)
    for _ in range(900):
        a = rng.integers(0, 4, 2)
        out = envs.step(a.reshape(2, 1).astype(np.float32))
        _, r, term, trunc, _ = raw.step(a)
        acc += r
        length += 1
        for i in np.flatnonzero(term | trunc):
            expect.append(acc[i])
            lengths.append(length[i])
            acc[i], length[i] = 0, 0
        got += out.episode_returns.tolist()
        assert out.obs.dtype == np.uint8
        assert set(np.unique(out.reward)) <= {-1.0, 0.0, 1.0}
    assert len(expect) >= 1 and got == expect
    envs.close()
    raw.close()


def test_nature_cnn_shapes_scaling_and_channels_last():
    torch.manual_seed(0)
    enc = NatureCNN((4, 84, 84), uint8=True)
    x = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    assert enc.fc.in_features == 3136 and enc(x).shape == (3, 512)
    f = NatureCNN((4, 84, 84), uint8=False)
    f.load_state_dict(enc.state_dict())
    torch.testing.assert_close(enc(x), f(x.float() / 255.0), rtol=0, atol=0)
    hwc = NatureCNN((84, 84, 4), uint8=True)
    hwc.load_state_dict(enc.state_dict())
    assert hwc.channels_last
    torch.testing.assert_close(hwc(x.permute(0, 2, 3, 1)), enc(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="too small"):
        NatureCNN((4, 20, 20))


def test_nature_cnn_in_bfloat16_equals_a_hand_written_bfloat16_forward_and_keeps_float32_outside():
    torch.manual_seed(0)
    enc = NatureCNN((4, 84, 84), uint8=True)
    bf = NatureCNN((4, 84, 84), uint8=True, precision="bf16")
    bf.load_state_dict(enc.state_dict())
    x = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8)
    # every pixel value scaled in bfloat16 rounds as the float32 scaling cast to bfloat16 does
    v = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(v.to(torch.bfloat16).div_(255.0), (v.float() / 255.0).bfloat16())
    # the same layers by hand: bfloat16 inputs (NHWC, as the module lays them out) and weights, float32 out
    h = (x.float() / 255.0).bfloat16().contiguous(memory_format=torch.channels_last)
    for conv in (enc.convs[0], enc.convs[2], enc.convs[4]):
        h = torch.relu(F.conv2d(h, conv.weight.bfloat16(), conv.bias.bfloat16(), conv.stride))
    expect = torch.relu(F.linear(h.flatten(1), enc.fc.weight.bfloat16(), enc.fc.bias.bfloat16())).float()
    out = bf(x)
    assert out.dtype == torch.float32 and torch.equal(out, expect)
    # 8 significant bits: within a few percent of the float32 features, not equal to them
    ref = enc(x).detach()
    err = float((out.detach() - ref).abs().max() / ref.abs().max())
    assert 0 < err < 0.05
    # weights and gradients stay float32, and point where the float32 gradients point
    w = torch.randn(512)
    (enc(x) @ w).sum().backward()
    (bf(x) @ w).sum().backward()
    for p32, p16 in zip(enc.parameters(), bf.parameters()):
        assert p16.dtype == p16.grad.dtype == torch.float32
        assert F.cosine_similarity(p32.grad.flatten(), p16.grad.flatten(), dim=0) > 0.99
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        NatureCNN((4, 84, 84), precision="fp16")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_ppo_atari_shares_the_encoder_and_stores_uint8(tmp_path, precision):
    torch.manual_seed(0)
    cfg = PPOConfig.presets()["atari"].replace(encoder_precision=precision)
    cfg.num_envs, cfg.num_steps, cfg.num_minibatches, cfg.update_epochs = 2, 16, 2, 1
    cfg.total_steps, cfg.run_dir = 64, str(tmp_path)
    envs = make_vec_env(cfg.env, cfg.num_envs, seed=0)
    agent = PPO(cfg, envs, torch.device("cpu"))
    assert isinstance(agent.critic.encoder, SharedEncoder) and agent.critic.encoder.module is agent.actor.encoder
    # the critic's optimizer holds only the value head: 512 weights + 1 bias
    assert sum(p.numel() for p in agent.critic.parameters()) == 513
    assert agent.collector.buffer.obs.dtype == torch.uint8 and agent.collector.buffer.obs.shape == (16, 2, 4, 84, 84)
    before = [p.detach().clone() for p in agent.actor.encoder.parameters()]
    head = agent.critic.v[0].weight.detach().clone()
    metrics = agent.iteration()
    assert agent.global_step == 32 and np.isfinite(metrics["losses/value_loss"])
    assert agent.actor.encoder.precision == precision and agent.collector.buffer.logprobs.dtype == torch.float32
    assert all(not torch.equal(b, p) for b, p in zip(before, agent.actor.encoder.parameters()))
    assert not torch.equal(head, agent.critic.v[0].weight)
    # the value loss's gradient reaches the shared encoder (with the policy switched off)
    agent._grads(agent.collect(), False)
    assert agent.actor_opt.grad.abs().sum() > 0
    envs.close()


def test_ppo_atari_run_writes_game_scores_and_resumes(tmp_path, capsys):
    run = tmp_path / "pong"
    args = [
        "train",
        "ppo",
        "--preset",
        "atari",
        "--env",
        "BreakoutNoFrameskip-v4",
        "--num-envs",
        "2",
        "--num-steps",
        "64",
        "--update-epochs",
        "1",
        "--num-minibatches",
        "2",
        "--run-dir",
        str(run),
        "--no-progress",
        "--wandb",
        "disabled",
    ]
    assert main([*args, "--total-steps", "256"]) == 0
    rows = list(csv.DictReader((run / "progress.csv").read_text().splitlines()))
    assert [int(r["global_step"]) for r in rows] == [128, 256]
    assert main(["train", "ppo", "--resume", str(run), "--total-steps", "384", "--no-progress"]) == 0
    assert "starts new episodes" in capsys.readouterr().err
    rows = list(csv.DictReader((run / "progress.csv").read_text().splitlines()))
    assert [int(r["global_step"]) for r in rows] == [128, 256, 384]


def test_atari_errors_are_one_line(monkeypatch, tmp_path, capsys):
    with pytest.raises(ConfigError, match="observation normalisation"):
        make_vec_env("BreakoutNoFrameskip-v4", 1, normalize_obs=True)
    with pytest.raises(ConfigError, match="not available"):
        make_vec_env("NoSuchGameNoFrameskip-v4", 1)
    monkeypatch.setitem(sys.modules, "ale_py", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'rlmeta\[atari\]'"):
        make_vec_env("ALE/Breakout-v5", 1)


def test_atari_episode_recording_feeds_the_policy_frame_stacks():
    pytest.importorskip("imageio_ffmpeg")
    from rlmeta.core.recording import EpisodeRecorder
    from rlmeta.envs.atari import recording_env

    seen = []

    def policy(obs):  # the policy sees what it was trained on: [1, 4, 84, 84] uint8
        seen.append((obs.shape, obs.dtype))
        return np.array([[1.0]], np.float32)  # FIRE, as a float index

    rec = EpisodeRecorder("BreakoutNoFrameskip-v4", seed=0, make_env=recording_env("BreakoutNoFrameskip-v4"))
    frames, _, length = rec.record(policy, max_steps=40)
    rec.close()
    assert length == 40 and frames.shape == (41, 210, 160, 3) and frames.dtype == np.uint8
    assert set(seen) == {((1, 4, 84, 84), np.dtype(np.uint8))}
    assert recording_env("Hopper-v5") is None
