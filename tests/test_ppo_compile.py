"""PPO with --compile: torch.compile'd losses give the eager numbers (loss, metrics, gradients, and
parameters after a full update phase), and a failing compile falls back to eager with a warning."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from agents.pg.ppo import PPO, PPOConfig, policy_loss
from envs import make_vec_env
from rlmeta.buffers import RolloutBatch
from rlmeta.networks import Critic, GaussianActor
from rlmeta.offpolicy import maybe_compile
from rlmeta.onpolicy import value_loss

OBS, ACT, B = 11, 3, 32  # B: the minibatch of the update-phase test (same shapes: compiled graphs are reused)


def fixed_batch(actor: GaussianActor, seed: int = 0, B: int = B) -> RolloutBatch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, OBS, generator=g)
    with torch.no_grad():
        act, logp = actor.sample(obs)
    logp = logp + 0.3 * torch.randn(B, generator=g)  # an "old" policy a bit off, so some ratios clip
    values, adv = torch.randn(B, generator=g), torch.randn(B, generator=g)
    return RolloutBatch(obs, act, logp, values, adv, values + adv)


def compiled_or_skip(fn):
    pytest.importorskip("torch._dynamo")
    try:
        return torch.compile(fn, dynamic=False)
    except Exception as e:  # torch without dynamo support
        pytest.skip(f"torch.compile unavailable here: {type(e).__name__}")


def test_compiled_losses_equal_eager():
    torch.manual_seed(0)
    actor, critic = GaussianActor(OBS, ACT, (32, 32)), Critic(OBS, (32, 32))
    b = fixed_batch(actor)
    cases = [(policy_loss, actor, (b, 0.2, 0.0, True)), (value_loss, critic, (b, 0.2))]  # PPO's defaults
    for fn, net, args in cases:
        eager, em = fn(net, *args)
        g_eager = torch.autograd.grad(eager, list(net.parameters()))
        try:
            comp, cm = compiled_or_skip(fn)(net, *args)
        except Exception as e:  # no C++ toolchain: maybe_compile would run eagerly
            pytest.skip(f"torch.compile failed here: {type(e).__name__}")
        g_comp = torch.autograd.grad(comp, list(net.parameters()))
        torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-6)
        assert em.keys() == cm.keys()
        for k in em:
            torch.testing.assert_close(cm[k], em[k], rtol=1e-5, atol=1e-6)
        for a, c in zip(g_eager, g_comp):
            torch.testing.assert_close(c, a, rtol=1e-4, atol=1e-6)
    # by hand: with logprobs = the current policy's, ratio = 1, so loss = -mean(normalised adv) = 0
    with torch.no_grad():
        logp, _ = actor.log_prob_entropy(b.obs, b.actions)
    same = b._replace(logprobs=logp)
    loss, m = policy_loss(actor, same, 0.2, 0.0, True)
    assert abs(loss.item()) < 1e-6 and m["losses/clipfrac"].item() == 0.0 and abs(m["losses/approx_kl"].item()) < 1e-6


def test_ppo_update_phase_compiled_equals_eager(capsys):
    """Two PPO agents from the same seed, one with compile=True: after update_epochs x minibatches of
    policy and value steps on the same batch, parameters and metrics agree to float tolerance."""
    compiled_or_skip(lambda x: x)
    out = []
    for compile_ in (False, True):
        cfg = PPOConfig(env="Hopper-v5", num_envs=1, num_steps=4 * B, num_minibatches=4, update_epochs=2,
                        hidden_sizes=(32, 32), compile=compile_)
        envs = make_vec_env("Hopper-v5", 1, seed=0, backend="mujoco", threads=1)
        torch.manual_seed(0)
        agent = PPO(cfg, envs, torch.device("cpu"))
        batch = fixed_batch(agent.actor, B=4 * B)
        torch.manual_seed(1)  # the minibatch permutation
        metrics = agent.update(batch)
        envs.close()
        out.append((agent.actor_opt.flat.clone(), agent.critic_opt.flat.clone(), metrics))
    assert "torch.compile" not in capsys.readouterr().err  # the compiled path ran, no eager fallback
    (pa, va, ma), (pc, vc, mc) = out
    torch.testing.assert_close(pc, pa, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(vc, va, rtol=1e-4, atol=1e-5)
    assert ma.keys() == mc.keys() and ma["losses/policy_updates"] == mc["losses/policy_updates"] == 8.0
    for k in ma:
        assert mc[k] == pytest.approx(ma[k], rel=1e-4, abs=1e-5), k


def test_maybe_compile_falls_back_to_eager(capsys):
    """A compiled callable that raises at its first call (as without a C++ toolchain): one warning,
    then every call runs eagerly with the eager result."""

    def double(x):
        return x * 2

    assert maybe_compile(double, False) is double
    calls = []

    def broken(*args, **kw):
        calls.append(1)
        raise RuntimeError("no compiler")

    with mock.patch("torch.compile", return_value=broken):
        fb = maybe_compile(double, True)
    x = torch.tensor([1.0, 2.0])
    assert torch.equal(fb(x), x * 2) and torch.equal(fb(x), x * 2)
    assert len(calls) == 1  # the compiled path is tried once only
    assert "torch.compile failed (RuntimeError: no compiler)" in capsys.readouterr().err
