"""Discrete actions for VPG, TRPO and PPO: the categorical math against torch.distributions, TRPO's
Fisher-vector product against the exact Hessian of the KL, the env receiving integers, a CartPole run
that learns, and a bit-for-bit resume. DDPG/TD3/SAC keep refusing discrete spaces in one line."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, kl_divergence

from rlmeta.agents.onpolicy.trpo import mean_kl
from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.distributions import categorical_entropy, categorical_kl, categorical_log_prob
from rlmeta.core.natural_gradient import fisher_vector_product, flat_grad
from rlmeta.core.networks import CategoricalActor
from rlmeta.envs import make_vec_env


def test_categorical_math_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    logits0, logits1 = torch.randn(64, 5, generator=g) * 3, torch.randn(64, 5, generator=g)
    a = torch.randint(0, 5, (64,), generator=g)
    d0, d1 = Categorical(logits=logits0), Categorical(logits=logits1)
    torch.testing.assert_close(categorical_log_prob(logits0, a), d0.log_prob(a), rtol=0, atol=1e-6)
    torch.testing.assert_close(categorical_log_prob(logits0, a.float()), d0.log_prob(a), rtol=0, atol=1e-6)
    torch.testing.assert_close(categorical_entropy(logits0), d0.entropy(), rtol=0, atol=1e-5)
    torch.testing.assert_close(categorical_kl(logits0, logits1), kl_divergence(d0, d1), rtol=0, atol=1e-5)


def test_categorical_actor_samples_its_probabilities_and_acts_greedily():
    torch.manual_seed(0)
    pi = CategoricalActor(3, 4, (8,))
    obs = torch.randn(1, 3).expand(20_000, 3)
    a, logp = pi.sample(obs)
    assert a.shape == (20_000, 1) and a.dtype == torch.float32 and logp.shape == (20_000,)
    probs = torch.softmax(pi(obs[:1]), -1)[0]
    freq = torch.bincount(a.long().squeeze(-1), minlength=4).float() / 20_000
    assert torch.allclose(freq, probs, atol=0.015)
    torch.testing.assert_close(logp, probs.log()[a.long().squeeze(-1)], rtol=0, atol=1e-5)
    assert pi.act(obs[:1], deterministic=True).item() == probs.argmax().item()


def test_fisher_vector_product_of_the_categorical_kl_equals_the_exact_hessian():
    torch.manual_seed(0)
    actor = CategoricalActor(3, 4, (5,)).double()
    obs = torch.randn(32, 3, dtype=torch.float64)
    with torch.no_grad():
        old = tuple(t.clone() for t in actor.dist_params(obs))
    params = list(actor.parameters())
    kl = lambda: mean_kl(actor, obs, old)  # noqa: E731
    fvp = fisher_vector_product(kl, params, damping=0.0)
    n = sum(p.numel() for p in params)
    g = flat_grad(kl(), params, create_graph=True)
    H = torch.stack([flat_grad(g[i], params, retain_graph=True) for i in range(n)])  # [P, P]
    v = torch.randn(n, dtype=torch.float64)
    assert torch.allclose(fvp(v), H @ v, atol=1e-10)
    assert H.abs().max() > 1e-3  # a real Hessian, not zeros


def test_float_index_actions_reach_the_env_as_integers():
    """[N, 1] float indices step the envs exactly as gymnasium's own vector env with the integers."""
    ours = make_vec_env("CartPole-v1", 3, seed=5)
    ref = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    o1 = ours.reset()
    o2, _ = ref.reset(seed=[5, 6, 7])
    assert np.array_equal(o1, o2)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.integers(0, 2, size=3)
        out = ours.step(a.astype(np.float32)[:, None])
        o2, r2, t2, _, _ = ref.step(a)
        assert np.array_equal(out.obs, o2) and np.array_equal(out.reward, r2) and np.array_equal(out.terminated, t2)
    ours.close()
    ref.close()


def _returns(run_dir) -> list[float]:
    with open(run_dir / "progress.csv") as f:
        return [float(r["charts/episodic_return"]) for r in csv.DictReader(f) if r.get("charts/episodic_return")]


def test_ppo_learns_cartpole_far_beyond_a_random_policy(tmp_path):
    """A uniformly random CartPole-v1 policy lasts about 22 steps; 20k steps of the classic preset
    (CleanRL's ppo.py settings) reach well beyond (seen: about 150)."""
    run = tmp_path / "cp"
    assert main(["train", "ppo", "--preset", "classic", "--total-steps", "20480", "--run-dir", str(run),
                 "--no-progress", "--seed", "1"]) == 0
    rets = _returns(run)
    assert np.mean(rets[:2]) < 40 and np.mean(rets[-3:]) > 60


@pytest.mark.parametrize("algo", ["ppo", "trpo", "vpg"])
def test_discrete_run_resumes_bit_for_bit(tmp_path, algo):
    flags = ["--env", "CartPole-v1", "--num-envs", "2", "--num-steps", "256", "--no-progress", "--seed", "3"]
    if algo == "ppo":
        flags += ["--preset", "classic", "--num-steps", "256"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", algo, *flags, "--total-steps", "1536", "--run-dir", str(a), "--checkpoint-every", "512"]) == 0
    assert main(["train", algo, *flags, "--total-steps", "512", "--run-dir", str(b), "--checkpoint-every", "512"]) == 0
    assert main(["train", algo, "--resume", str(b), "--total-steps", "1536", "--no-progress"]) == 0
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    for net in ("actor", "critic"):
        for k, t in ca["agent"][net].items():
            assert torch.equal(t, cb["agent"][net][k]), (net, k)
    assert (a / "progress.csv").read_text().splitlines()[-1].split(",")[1:4] == \
        (b / "progress.csv").read_text().splitlines()[-1].split(",")[1:4]


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_off_policy_agents_refuse_discrete_spaces_in_one_line(algo, tmp_path, capsys):
    assert main(["train", algo, "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a continuous (Box) action space; CartPole-v1 has Discrete(2)" in err[0]
