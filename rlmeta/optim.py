"""FlatAdam: Adam over one contiguous buffer holding all of a module's parameters.

Small RL networks spend most of an update in per-tensor op overhead, not arithmetic: torch's Adam
and clip_grad_norm_ issue a handful of ops per parameter tensor. Here every parameter (and its
.grad) is a view into one flat tensor, so the step and the gradient-norm clip are a few ops in
total. The numbers equal torch.optim.Adam (tests/test_optim.py); on this CPU a PPO minibatch
update of two 64x64 MLPs is about 1.6x faster (benchmarks/ppo_throughput.py).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn


def flatten_params(params: Iterable[nn.Parameter]) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-home params (and their grads) as views of one flat buffer each. -> (flat, flat_grad)"""
    params = [p for p in params if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    flat_grad = torch.zeros_like(flat)
    i = 0
    for p in params:
        n = p.numel()
        p.data = flat[i : i + n].view_as(p)
        p.grad = flat_grad[i : i + n].view_as(p)
        i += n
    return flat, flat_grad


class FlatAdam:
    """Adam (Kingma & Ba) with optional global-norm gradient clipping on a flat buffer.

    capturable=True keeps the step count and the learning rate as 0-dim tensors on the parameters'
    device (as torch.optim.Adam(capturable=True)): a step then needs nothing from the host, so it can
    be recorded in a CUDA graph and a learning rate can be changed on the device (adaptive KL).
    Numbers equal the default mode to float32 rounding of the bias corrections (tests/test_optim.py).

    Example:
        >>> opt = FlatAdam(net.parameters(), lr=3e-4, eps=1e-5)
        >>> opt.zero_grad(); loss.backward(); opt.step(max_grad_norm=0.5)
    """

    def __init__(self, params: Iterable[nn.Parameter], lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 capturable: bool = False):
        self.flat, self.grad = flatten_params(params)
        (self.b1, self.b2), self.eps, self.capturable = betas, eps, capturable
        self.m = torch.zeros_like(self.flat)
        self.v = torch.zeros_like(self.flat)
        if capturable:
            self._t = torch.zeros((), device=self.flat.device)
            self._lr = torch.tensor(float(lr), device=self.flat.device)
        else:
            self._t, self._lr = 0, float(lr)

    @property
    def lr(self) -> float | torch.Tensor:
        """The learning rate: a float, or (capturable) the live 0-dim tensor the steps read."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        if self.capturable:
            self._lr.fill_(value)  # in place: a captured graph keeps reading the same memory
        else:
            self._lr = float(value)

    @property
    def t(self) -> int:
        return int(self._t)

    def scale_lr(self, factor: torch.Tensor, low: float, high: float) -> None:
        """lr <- clamp(lr * factor, low, high); on the device (no host sync) when capturable."""
        if self.capturable:
            self._lr.mul_(factor).clamp_(low, high)
        else:
            self._lr = min(max(self._lr * float(factor), low), high)

    def zero_grad(self) -> None:
        # keep the .grad views alive: backward accumulates into them in place
        self.grad.zero_()

    @torch.no_grad()
    def step(self, max_grad_norm: float = 0.0) -> torch.Tensor:
        """One Adam step; clip the global grad norm to max_grad_norm when > 0 (as clip_grad_norm_:
        scale by min(1, max_norm / (norm + 1e-6))). Returns the pre-clip grad norm as a 0-dim tensor:
        no host sync, so a GPU update loop never waits on it."""
        g = self.grad
        norm = g.norm()
        if max_grad_norm > 0:
            g.mul_((max_grad_norm / (norm + 1e-6)).clamp(max=1.0))
        self._t += 1
        self.m.lerp_(g, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
        bc1, bc2 = 1 - self.b1**self._t, 1 - self.b2**self._t
        denom = (self.v / bc2).sqrt_().add_(self.eps)
        if self.capturable:  # step size as a tensor: no Python number taken from device memory
            self.flat.addcdiv_(self.m * (-self._lr / bc1), denom)
        else:
            self.flat.addcdiv_(self.m, denom, value=-self._lr / bc1)
        return norm

    def minimize(self, loss: torch.Tensor, max_grad_norm: float = 0.0) -> torch.Tensor:
        """zero_grad -> backward -> clipped step. Returns the pre-clip grad norm."""
        self.zero_grad()
        loss.backward()
        return self.step(max_grad_norm)

    def state_dict(self) -> dict[str, Any]:
        return {"m": self.m.clone(), "v": self.v.clone(), "t": self.t, "lr": float(self._lr)}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.m.copy_(d["m"])
        self.v.copy_(d["v"])
        if self.capturable:
            self._t.fill_(int(d["t"]))
        else:
            self._t = int(d["t"])
        self.lr = float(d["lr"])


def minimize_together(steps: list[tuple[FlatAdam, torch.Tensor]], max_grad_norm: float = 0.0) -> None:
    """[(optimizer, loss), ...] of networks with disjoint parameters (PPO's actor and critic): one
    backward of the summed losses, then each optimizer's own clipped step (its learning rate, its
    gradient-norm clip). Each parameter's gradient comes from its own network's loss only and
    autograd passes the sum's gradient of 1 on exactly, so the steps are bitwise those of separate
    `minimize` calls, with one autograd pass instead of one per network. (A loss that reaches
    another network's parameters adds its gradient there too.)"""
    for opt, _ in steps:
        opt.zero_grad()
    total = steps[0][1]
    for _, loss in steps[1:]:
        total = total + loss
    total.backward()
    for opt, _ in steps:
        opt.step(max_grad_norm)
