"""PPO with --compile: torch.compile'd losses give the eager numbers (loss, metrics, gradients, and
parameters after a full update phase), and a failing compile falls back to eager with a warning."""

from __future__ import annotations

import copy
from unittest import mock

import pytest
import torch

from rlmeta.agents.onpolicy.base import value_loss
from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig, policy_loss
from rlmeta.core.buffers import RolloutBatch
from rlmeta.core.graphs import maybe_compile
from rlmeta.core.networks import Critic, GaussianActor
from rlmeta.envs import make_vec_env

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


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def update_once(cfg: PPOConfig, device: str, seed: int = 0, iters: int = 1):
    """A PPO agent built from `seed`, `iters` update phases on one fixed batch -> (agent, last metrics)."""
    envs = make_vec_env("Hopper-v5", 1, seed=0, backend="mujoco", threads=1)
    torch.manual_seed(seed)
    agent = PPO(cfg, envs, torch.device(device))
    cpu_actor = copy.deepcopy(agent.actor).cpu()  # never .cpu() the agent's own: its params are FlatAdam views
    batch = RolloutBatch(*(x.to(device) for x in fixed_batch(cpu_actor, B=cfg.num_steps)))
    torch.manual_seed(1)  # the minibatch permutations
    for _ in range(iters):
        metrics = agent.update(batch)
    envs.close()
    return agent, metrics


@pytest.mark.parametrize("device", DEVICES)
def test_ppo_update_phase_compiled_equals_eager(capsys, device):
    """Two PPO agents from the same seed, one with compile=True (CPU: torch.compile'd losses; CUDA: the
    whole update phase replayed as a CUDA graph): after update_epochs x minibatches of policy and value
    steps on the same batch, with the adaptive-KL learning rate on, parameters, Adam state, learning
    rates and metrics agree to float tolerance. On CUDA three phases run, so the graph is replayed."""
    if device == "cpu":
        compiled_or_skip(lambda x: x)
    out = []
    for compile_ in (False, True):
        cfg = PPOConfig(
            env="Hopper-v5",
            num_envs=1,
            num_steps=4 * B,
            num_minibatches=4,
            update_epochs=2,
            hidden_sizes=(32, 32),
            compile=compile_,
            desired_kl=0.002,
        )
        agent, metrics = update_once(cfg, device, iters=3 if device == "cuda" else 1)
        if device == "cuda":
            assert agent._update_phase.captured == compile_
        out.append((agent.actor_opt, agent.critic_opt, metrics))
    err = capsys.readouterr().err
    assert "torch.compile" not in err and "CUDA graph" not in err  # the fast path ran, no eager fallback
    (oa, va, ma), (oc, vc, mc) = out
    for a, c in ((oa, oc), (va, vc)):
        torch.testing.assert_close(c.flat, a.flat, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(c.v, a.v, rtol=1e-4, atol=1e-9)
        assert c.t == a.t and float(c.lr) == pytest.approx(float(a.lr), rel=1e-5)
    assert ma.keys() == mc.keys() and ma["losses/policy_updates"] == mc["losses/policy_updates"] == 8.0
    for k in ma:
        assert mc[k] == pytest.approx(ma[k], rel=1e-4, abs=1e-5), k


def test_adaptive_kl_learning_rate_by_hand():
    """desired_kl: each policy step first scales both rates by 1/1.5 (KL > 2d), 1.5 (KL < d/2) or 1,
    clamped to [1e-5, 1e-2]. Replaying the metrics' KL sequence by hand gives the final rates."""
    cfg = PPOConfig(
        env="Hopper-v5",
        num_envs=1,
        num_steps=4 * B,
        num_minibatches=4,
        update_epochs=2,
        hidden_sizes=(32, 32),
        desired_kl=0.002,
        actor_lr=3e-4,
        critic_lr=6e-4,
    )
    envs = make_vec_env("Hopper-v5", 1, seed=0, backend="mujoco", threads=1)
    torch.manual_seed(0)
    agent = PPO(cfg, envs, torch.device("cpu"))
    kls = []
    agent.adapt_lr = (lambda orig: lambda kl: (kls.append(float(kl)), orig(kl)))(agent.adapt_lr)
    agent.update(fixed_batch(agent.actor, B=4 * B))
    envs.close()
    assert len(kls) == 8
    lr_pi, lr_v = 3e-4, 6e-4
    for kl in kls:
        f = 1 / 1.5 if kl > 0.004 else 1.5 if kl < 0.001 else 1.0
        f = float(torch.tensor(f))  # the factor is a float32 tensor
        lr_pi, lr_v = min(max(lr_pi * f, 1e-5), 1e-2), min(max(lr_v * f, 1e-5), 1e-2)
    assert (
        len(set(kls)) > 1 and agent.actor_opt.lr == pytest.approx(lr_pi) and agent.critic_opt.lr == pytest.approx(lr_v)
    )
    assert agent.actor_opt.lr != 3e-4  # the schedule moved


def test_captured_fn_runs_eagerly_off_cuda_and_falls_back():
    """CapturedFn: on CPU tensors the function simply runs (no graph); a capture that fails (here: a
    .item() inside, faked by raising) warns once, restores the state and runs eagerly."""
    from rlmeta.core.graphs import CapturedFn

    w = torch.zeros(3)

    def step(x):
        w.add_(x)
        return {"sum": w.sum()}

    f = CapturedFn(step, [w])
    assert f(torch.ones(3))["sum"].item() == 3.0 and not f.captured and not f.enabled
    if torch.cuda.is_available():
        wc = torch.zeros(3, device="cuda")

        def bad(x):
            wc.add_(x)
            if wc.sum().item() > 1e9:  # a host read: capture fails
                pass
            return wc

        g = CapturedFn(bad, [wc])
        out = g(torch.ones(3, device="cuda"))
        assert not g.captured and out.tolist() == [1.0, 1.0, 1.0]  # warm-up undone, one eager step


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


def test_private_compiled_functions_never_share_graphs(capsys):
    """Compiled(private=True) keeps only tensor guards, so it must not let a graph compiled for one
    function serve another with the same code (dynamo caches on the code object): closures that
    differ only in a Python number, as two agents' losses differ in gamma, give their own results."""
    pytest.importorskip("torch._dynamo")
    from rlmeta.core.graphs import Compiled

    def scaled(k: float):
        return lambda x: x * k  # one code object for every k

    x = torch.arange(4.0)
    fns = {k: Compiled(scaled(k), private=True) for k in (2.0, 3.0, 5.0)}
    for _ in range(2):
        for k, fn in fns.items():
            assert torch.equal(fn(x), x * k), k
    if "torch.compile" in capsys.readouterr().err:
        pytest.skip("torch.compile unavailable here: the eager fallback ran")
    assert all(fn.ok for fn in fns.values())
