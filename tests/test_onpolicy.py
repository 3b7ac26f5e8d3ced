"""VPG / TRPO numbers: CG on a known SPD system, the TRPO step inside its trust region, the
research hook (an extra loss reaches every agent), and CLI runs that resume."""

import csv

import numpy as np
import pytest
import torch

from rlmeta.agents.onpolicy.trpo import TRPOConfig, mean_kl, trpo_step
from rlmeta.app.cli import main
from rlmeta.core.buffers import RolloutBatch
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.natural_gradient import conjugate_gradient, fisher_vector_product, flat_grad
from rlmeta.core.networks import GaussianActor
from rlmeta.envs import make_vec_env


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
    kl = lambda: mean_kl(actor, obs, (m0, s0))  # noqa: E731
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
    kl = mean_kl(actor, b.obs, (m0, s0)).item()
    assert metrics["losses/step_accepted"] == 1.0
    assert 0 < kl <= max_kl
    # the quadratic model is accurate for small steps: the first try lands near the boundary
    assert kl > 0.3 * max_kl
    assert any(not torch.equal(p, q) for p, q in zip(before, actor.parameters()))


def test_extra_loss_hook_reaches_every_agent(tmp_path):
    """The README's research-extension example: an L2 penalty on the policy mean, registered once."""
    from rlmeta.app.runner import build_agent

    calls = {}

    def mean_l2(agent, batch, coef=1e-3):
        mean, _ = agent.actor(batch.obs)
        calls[agent.algo] = calls.get(agent.algo, 0) + 1
        return coef * mean.pow(2).mean(), {"losses/mean_l2": mean.pow(2).mean().item()}

    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.agents.onpolicy.trpo import TRPOConfig
    from rlmeta.agents.onpolicy.vpg import VPGConfig

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


# ---------------------------------------------------------------------- CPU fast paths: bitwise equal
@pytest.mark.parametrize("activation", ["tanh", "relu", "elu"])
def test_fast_sampler_and_value_are_bitwise_the_modules(activation):
    from rlmeta.core.networks import Critic, GaussianActor

    torch.manual_seed(0)
    actor, critic = GaussianActor(11, 3, (32, 16), activation, -0.4, True), Critic(11, (32, 16), activation, True)
    obs = torch.randn(7, 11)
    with torch.no_grad():
        torch.manual_seed(5)
        a, logp = actor.sample(obs)
        torch.manual_seed(5)
        a2, logp2 = actor.fast_sampler()(obs)
        assert torch.equal(a, a2) and torch.equal(logp, logp2)
        assert torch.equal(critic.fast_value()(obs), critic(obs))
        # the weights are live views: an in-place update is seen without rebuilding
        value = critic.fast_value()
        critic.v[0].weight.add_(0.1)
        assert torch.equal(value(obs), critic(obs))

    class Custom(GaussianActor):  # a research subclass keeps its own sample()
        def sample(self, obs):
            return super().sample(obs * 0)

    c = Custom(11, 3, (8,))
    assert c.fast_sampler() == c.sample


@pytest.mark.parametrize("activation", ["tanh", "relu", "elu"])
def test_numpy_sampler_and_value_match_the_modules(activation):
    """The all-CPU collection's numpy forwards: the same torch noise draws as `sample`, so actions,
    log-probs and values equal the modules' within float tolerance (BLAS order); live weight views;
    a subclass with its own sample() gets it back behind numpy conversions (bitwise)."""
    from rlmeta.core.networks import Critic, GaussianActor

    torch.manual_seed(0)
    actor, critic = GaussianActor(11, 3, (32, 16), activation, -0.4, True), Critic(11, (32, 16), activation, True)
    obs = torch.randn(7, 11) * 2
    with torch.no_grad():
        torch.manual_seed(5)
        a, logp = actor.sample(obs)
        torch.manual_seed(5)
        a2, logp2 = actor.numpy_sampler()(obs.numpy())
        assert a2.dtype == logp2.dtype == np.float32 and a2.shape == (7, 3) and logp2.shape == (7,)
        np.testing.assert_allclose(a2, a.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(logp2, logp.numpy(), rtol=1e-5, atol=1e-5)
        value = critic.numpy_value()
        np.testing.assert_allclose(value(obs.numpy()), critic(obs).numpy(), rtol=1e-5, atol=1e-6)
        critic.v[0].weight.add_(0.1)  # an in-place optimiser step is seen without rebuilding
        np.testing.assert_allclose(value(obs.numpy()), critic(obs).numpy(), rtol=1e-5, atol=1e-6)

    class Custom(GaussianActor):
        def sample(self, obs):
            return super().sample(obs * 0)

    c = Custom(11, 3, (8,))
    torch.manual_seed(1)
    ref = c.sample(obs)
    torch.manual_seed(1)
    got = c.numpy_sampler()(obs.numpy())
    assert all(np.array_equal(g, r.detach().numpy()) for g, r in zip(got, ref))


def test_running_mean_std_single_row_update_is_bitwise_the_general_one():
    from rlmeta.core.vec_env import RunningMeanStd

    rng = np.random.default_rng(0)
    fast, ref = RunningMeanStd((5,)), RunningMeanStd((5,))
    for _ in range(200):
        x = rng.normal(2.0, 3.0, (1, 5))
        fast.update(x)  # the one-row branch
        # the general formula (Chan et al.), as before the one-row branch existed
        batch_mean, batch_var, n = x.mean(0), x.var(0), 1
        delta = batch_mean - ref.mean
        tot = ref.count + n
        ref.mean = ref.mean + delta * n / tot
        ref.var = (ref.var * ref.count + batch_var * n + delta**2 * ref.count * n / tot) / tot
        ref.count = tot
    assert np.array_equal(fast.mean, ref.mean) and np.array_equal(fast.var, ref.var) and fast.count == ref.count


def reference_collect(col, policy, value, lam):
    """OnPolicyCollector's tensor loop before the numpy host path (the specification it must equal)."""
    from rlmeta.core.rollout import OnPolicyCollector  # noqa: F401

    buf, obs = col.buffer, col.obs
    with torch.no_grad():
        for t in range(col.T):
            action, logp = policy(obs)
            v = value(obs)
            out = col.envs.step(action.cpu().numpy())
            reward = torch.as_tensor(out.reward)
            bootstrap = out.truncated & ~out.terminated
            if bootstrap.any():
                idx = np.flatnonzero(bootstrap)
                reward[idx] += col.gamma * value(torch.as_tensor(out.final_obs[idx]))
            buf.obs[t], buf.actions[t], buf.logprobs[t], buf.values[t] = obs, action, logp, v
            buf.rewards[t] = reward
            buf.dones[t] = torch.as_tensor((out.terminated | out.truncated).astype(np.float32))
            col.stats.add(out.episode_returns, out.episode_lengths)
            obs = torch.as_tensor(out.obs)
        col.obs = obs
        return buf.batch(value(obs), col.gamma, lam)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_host_collection_is_bitwise_the_tensor_loop(num_envs):
    """numpy rows into the buffer + fast sampler/value + numpy GAE == the old tensor loop with the
    modules, bit for bit, across truncations (a 30-step limit) and Hopper terminations."""
    from rlmeta.core.networks import Critic, GaussianActor
    from rlmeta.core.rollout import OnPolicyCollector

    out = []
    for fast in (True, False):
        torch.manual_seed(0)
        actor, critic = GaussianActor(11, 3, (16, 16)), Critic(11, (16, 16))
        envs = make_vec_env(
            "Hopper-v5", num_envs, seed=2, backend="mujoco", threads=1, normalize_obs=True, normalize_reward=True
        )
        envs.backend.max_episode_steps = 30
        col = OnPolicyCollector(envs, 90, torch.device("cpu"), gamma=0.99)
        col.reset()
        batches = []
        for _ in range(2):
            if fast:
                sampler, value = actor.fast_sampler(), critic.fast_value()  # numpy in and out on this path
                batches.append(
                    col.collect(
                        lambda o, s=sampler: tuple(x.numpy() for x in s(torch.from_numpy(o))),
                        lambda o, v=value: v(torch.from_numpy(o)).numpy(),
                        0.95,
                    )
                )
            else:
                batches.append(reference_collect(col, actor.sample, critic, 0.95))
            batches[-1] = tuple(x.clone() for x in batches[-1])
        out.append((batches, col.stats.pop()))
        envs.close()
    (fast_b, fast_s), (ref_b, ref_s) = out
    for b1, b2 in zip(fast_b, ref_b):
        for x, y in zip(b1, b2):
            assert torch.equal(x, y)
    assert fast_s == ref_s and fast_s["charts/episodes"] >= 5


@pytest.mark.parametrize("preset", ["cleanrl", "spinningup"])
def test_ppo_update_is_bitwise_the_per_network_loop(preset):
    """PPO's update (one gather per epoch, one backward for actor + critic) against the loop it replaced:
    a gather per minibatch, the policy stepped, then the critic, each with its own backward. Same
    permutations -> bitwise the same parameters, Adam moments and metrics; spinningup exercises the KL
    early stop (the policy stops, the critic goes on) and full-batch minibatches."""
    from rlmeta.agents.onpolicy.base import to_floats, value_loss
    from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig, policy_loss

    results = []
    for new in (True, False):
        cfg = PPOConfig.presets()[preset].replace(
            env="Hopper-v5",
            num_envs=2,
            num_steps=256,
            num_minibatches=4 if preset == "cleanrl" else 1,
            update_epochs=6,
            target_kl=0.002 if preset == "spinningup" else 0.0,
        )
        envs = make_vec_env("Hopper-v5", 2, seed=0, backend="mujoco", threads=1)
        torch.manual_seed(0)
        agent = PPO(cfg, envs, torch.device("cpu"))
        batch = agent.collect()
        torch.manual_seed(7)
        if new:
            metrics = agent.update(batch)
        else:
            B = batch.obs.shape[0]
            perms = [torch.randperm(B) for _ in range(cfg.update_epochs)]
            pi_active, pi_updates, m = True, 0, {}
            for perm in perms:
                for idx in perm.split(B // cfg.num_minibatches):
                    mb = RolloutBatch(*(x[idx] for x in batch))
                    if pi_active:
                        loss, pm = policy_loss(agent.actor, mb, cfg.clip_coef, cfg.ent_coef, cfg.norm_adv)
                        if cfg.target_kl > 0 and pm["losses/approx_kl"] > 1.5 * cfg.target_kl:
                            pi_active = False
                        else:
                            agent.actor_opt.minimize(loss, cfg.max_grad_norm)
                            pi_updates += 1
                            m.update(pm)
                    vloss, vm = value_loss(agent.critic, mb, cfg.clip_coef if cfg.clip_vloss else 0.0)
                    agent.critic_opt.minimize(cfg.vf_coef * vloss, cfg.max_grad_norm)
                    m.update(vm)
            m["losses/policy_updates"], m["charts/learning_rate"] = float(pi_updates), agent.actor_opt.lr
            metrics = to_floats(m)
        envs.close()
        results.append((agent.actor_opt, agent.critic_opt, metrics))
    (na, nc, nm), (oa, oc, om) = results
    for x, y in ((na, oa), (nc, oc)):
        assert torch.equal(x.flat, y.flat) and torch.equal(x.m, y.m) and torch.equal(x.v, y.v) and x.t == y.t
    assert nm == om
    if preset == "spinningup":
        assert 0 < nm["losses/policy_updates"] < cfg.update_epochs  # the early stop happened
