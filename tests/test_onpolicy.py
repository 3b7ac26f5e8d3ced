"""VPG / TRPO numbers: CG on a known SPD system, the TRPO step inside its trust region, the
research hook (an extra loss reaches every agent), and CLI runs that resume."""

import csv

import numpy as np
import pytest
import torch

from agents.pg.trpo import TRPOConfig, mean_kl, trpo_step
from rlmeta.buffers import RolloutBatch
from rlmeta.checkpoint import load_checkpoint
from rlmeta.cli import main
from rlmeta.natural_gradient import conjugate_gradient, fisher_vector_product, flat_grad
from rlmeta.networks import GaussianActor


def test_conjugate_gradient_solves_spd_system():
    A = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, iters=3)  # exact in n = 3 iterations
    assert torch.allclose(x, torch.linalg.solve(A, b), atol=1e-10)
    # by hand (Cramer's rule, det A = 18): x = [4/18, 2/18, 26/18]
    assert torch.allclose(x, torch.tensor([2 / 9, 1 / 9, 13 / 9], dtype=torch.float64), atol=1e-10)


def test_fisher_vector_product_equals_explicit_hessian():
    torch.manual_seed(0)
    actor = GaussianActor(3, 2, (4,)).double()
    obs = torch.randn(32, 3, dtype=torch.float64)
    with torch.no_grad():
        m0, s0 = (t.clone() for t in actor(obs))
    params = list(actor.parameters())
    kl = lambda: mean_kl(actor, obs, m0, s0)  # noqa: E731
    fvp = fisher_vector_product(kl, params, damping=0.0)
    n = sum(p.numel() for p in params)
    g = flat_grad(kl(), params, create_graph=True)
    H = torch.stack([flat_grad(g[i], params, retain_graph=True) for i in range(n)])
    v = torch.randn(n, dtype=torch.float64)
    assert torch.allclose(fvp(v), H @ v, atol=1e-8)


def _fixed_batch(obs_dim=4, act_dim=2, B=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    actor = GaussianActor(obs_dim, act_dim, (16,), log_std_init=-0.5)
    obs = torch.randn(B, obs_dim, generator=g)
    with torch.no_grad():
        act, logp = actor.sample(obs)
    adv = torch.randn(B, generator=g)
    z = torch.zeros(B)
    return actor, RolloutBatch(obs, act, logp, z, adv, z)


@pytest.mark.parametrize("max_kl", [0.001, 0.01, 0.05])
def test_trpo_step_respects_kl_bound_and_improves_surrogate(max_kl):
    actor, b = _fixed_batch()
    with torch.no_grad():
        m0, s0 = (t.clone() for t in actor(b.obs))
    before = [p.detach().clone() for p in actor.parameters()]
    cfg = TRPOConfig(max_kl=max_kl)
    metrics = trpo_step(actor, b, cfg)
    kl = mean_kl(actor, b.obs, m0, s0).item()
    assert metrics["losses/step_accepted"] == 1.0
    assert 0 < kl <= max_kl
    # the quadratic model is accurate for small steps: the first try lands near the boundary
    assert kl > 0.3 * max_kl
    assert any(not torch.equal(p, q) for p, q in zip(before, actor.parameters()))


def test_extra_loss_hook_reaches_every_agent(tmp_path):
    """The README's research-extension example: an L2 penalty on the policy mean, registered once."""
    from rlmeta.runner import build_agent

    calls = {}

    def mean_l2(agent, batch, coef=1e-3):
        mean, _ = agent.actor(batch.obs)
        calls[agent.algo] = calls.get(agent.algo, 0) + 1
        return coef * mean.pow(2).mean(), {"losses/mean_l2": mean.pow(2).mean().item()}

    from agents.pg.ppo import PPOConfig
    from agents.pg.trpo import TRPOConfig
    from agents.pg.vpg import VPGConfig

    for algo, Cfg in [("ppo", PPOConfig), ("vpg", VPGConfig), ("trpo", TRPOConfig)]:
        cfg = Cfg(env="Hopper-v5", num_envs=2, num_steps=64, total_steps=128, progress=False)
        if algo == "ppo":
            cfg = cfg.replace(num_minibatches=2, update_epochs=1)
        agent = build_agent(algo, cfg)
        agent.extra_losses.append(mean_l2)
        metrics = agent.iteration()
        agent.envs.close()
        assert calls[algo] >= 1 and metrics["losses/mean_l2"] > 0


@pytest.mark.parametrize("algo", ["vpg", "trpo"])
def test_short_cli_run_and_resume(algo, tmp_path):
    rd = tmp_path / algo
    common = ["--env", "Hopper-v5", "--num-envs", "2", "--num-steps", "200", "--no-progress"]
    assert main(["train", algo, "--total-steps", "800", "--run-dir", str(rd), *common]) == 0
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["global_step"] == 800
    assert main(["train", algo, "--resume", str(rd), "--total-steps", "1200"]) == 0
    ck2 = load_checkpoint(rd / "checkpoint.pt")
    assert ck2["global_step"] == 1200
    # the resumed run started from the saved parameters: they moved on from there, and the log
    # holds every iteration exactly once
    assert not torch.equal(ck["agent"]["actor"]["log_std"], ck2["agent"]["actor"]["log_std"]) or algo == "trpo"
    with open(rd / "progress.csv") as f:
        steps = [int(r["global_step"]) for r in csv.DictReader(f)]
    assert steps == [400, 800, 1200]
    assert np.isfinite(float(ck2["agent"]["global_step"]))
