import math

import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution, kl_divergence
from torch.distributions.transforms import TanhTransform

from rlmeta.core.distributions import gaussian_entropy, gaussian_kl, gaussian_log_prob, tanh_squash_log_prob
from rlmeta.core.networks import GaussianActor


def test_gaussian_log_prob_entropy_kl_match_torch():
    torch.manual_seed(0)
    mean, log_std = torch.randn(64, 6), torch.randn(64, 6) * 0.5
    x = torch.randn(64, 6)
    ref = Independent(Normal(mean, log_std.exp()), 1)
    assert torch.allclose(gaussian_log_prob(x, mean, log_std), ref.log_prob(x), atol=1e-5)
    assert torch.allclose(gaussian_entropy(log_std), ref.entropy(), atol=1e-5)
    mean2, log_std2 = torch.randn(64, 6), torch.randn(64, 6) * 0.5
    ref2 = Independent(Normal(mean2, log_std2.exp()), 1)
    assert torch.allclose(gaussian_kl(mean, log_std, mean2, log_std2), kl_divergence(ref, ref2), atol=1e-4)


def test_tanh_squash_log_prob_matches_transformed_distribution():
    torch.manual_seed(1)
    mean, log_std = torch.randn(128, 3), torch.randn(128, 3) * 0.3
    u = mean + log_std.exp() * torch.randn(128, 3)
    a = torch.tanh(u)
    ours = tanh_squash_log_prob(u, gaussian_log_prob(u, mean, log_std))
    ref = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()]).log_prob(a).sum(-1)
    mask = a.abs().max(-1).values < 0.999  # the reference loses precision near |a| = 1
    assert torch.allclose(ours[mask], ref[mask], atol=1e-4)
    # closed form at u = 0: log N(0; 0, 1) per dim, det = 1
    z = torch.zeros(1, 3)
    assert tanh_squash_log_prob(z, gaussian_log_prob(z, z, z)).item() == pytest.approx(-1.5 * math.log(2 * math.pi))


def test_actor_sample_log_prob_consistent():
    torch.manual_seed(2)
    actor = GaussianActor(5, 2, (16,), log_std_init=-0.5)
    obs = torch.randn(10, 5)
    a, logp = actor.sample(obs)
    logp2, ent = actor.log_prob_entropy(obs, a)
    assert torch.allclose(logp, logp2, atol=1e-6)
    assert torch.allclose(ent, torch.full((10,), 2 * (-0.5 + 0.5 * (1 + math.log(2 * math.pi)))), atol=1e-6)
