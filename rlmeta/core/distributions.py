"""Closed-form diagonal-Gaussian and categorical math as plain tensor functions.

Cheaper than torch.distributions in the hot loop (no validation, no object per call); tests check
them against torch.distributions to 1e-6.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag(exp(log_std))^2) summed over the last dim.  [..., D] -> [...]"""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian, summed over the last dim.  [..., D] -> [...]"""
    return (log_std + 0.5 * (1.0 + LOG_2PI)).sum(-1)


def gaussian_kl(mean0, log_std0, mean1, log_std1) -> torch.Tensor:
    """KL(N0 || N1) for diagonal Gaussians, summed over the last dim.  [..., D] -> [...]"""
    var0, var1 = torch.exp(2 * log_std0), torch.exp(2 * log_std1)
    return (log_std1 - log_std0 + (var0 + (mean0 - mean1).pow(2)) / (2 * var1) - 0.5).sum(-1)


def tanh_squash_log_prob(u: torch.Tensor, log_prob_u: torch.Tensor) -> torch.Tensor:
    """log-prob of a = tanh(u) given log p(u): subtract log|det da/du| = sum log(1 - tanh(u)^2).

    Uses the stable identity log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)).  [..., D] -> [...]
    """
    return log_prob_u - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


# ---------------------------------------------------------------------- categorical (discrete actions)
def categorical_log_prob(logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[action].  logits [..., A], action [...] (integer values) -> [...]"""
    return torch.log_softmax(logits, -1).gather(-1, action.long().unsqueeze(-1)).squeeze(-1)


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """-sum p log p.  [..., A] -> [...]"""
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def categorical_kl(logits0: torch.Tensor, logits1: torch.Tensor) -> torch.Tensor:
    """KL(Cat(logits0) || Cat(logits1)).  [..., A] -> [...]"""
    logp0, logp1 = torch.log_softmax(logits0, -1), torch.log_softmax(logits1, -1)
    return (logp0.exp() * (logp0 - logp1)).sum(-1)
