"""FlatAdam: Adam over one contiguous buffer holding all of a module's parameters.

Small RL networks spend most of an update in per-tensor op overhead, not arithmetic: torch's Adam
and clip_grad_norm_ issue a handful of ops per parameter tensor. Here every parameter (and its
.grad) is a view into one flat tensor, so the step and the gradient-norm clip are a few ops in
total. The numbers equal torch.optim.Adam (tests/test_optim.py); what it saves in a PPO update is
measured by benchmarks/ppo_throughput.py (benchmarks/results/ppo_throughput.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, overload

import torch
from torch import nn

from rlmeta.core.graphs import Compiled


@overload
def flatten_params(params: Iterable[nn.Parameter], grads: Literal[True] = ...) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def flatten_params(params: Iterable[nn.Parameter], grads: Literal[False]) -> tuple[torch.Tensor, None]: ...
def flatten_params(params: Iterable[nn.Parameter], grads: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Re-home the params that require grad (in order) as views of one flat buffer and, with grads=True,
    their .grad as views of a second, zeroed one. -> (flat, flat_grad or None)

    FlatAdam flattens a network with its grads; a frozen target network (agents/offpolicy/base.py
    make_target) needs no grads.
    """
    params = [p for p in params if p.requires_grad]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    flat_grad = torch.zeros_like(flat) if grads else None
    i = 0
    for p in params:
        n = p.numel()
        p.data = flat[i : i + n].view_as(p)
        if flat_grad is not None:
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

    def __init__(
        self, params: Iterable[nn.Parameter], lr: float, betas=(0.9, 0.999), eps: float = 1e-8, capturable: bool = False
    ):
        self.params = [p for p in params if p.requires_grad]  # views of self.flat, in order
        self.flat, self.grad = flatten_params(self.params)
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


def adam_step(
    p: torch.Tensor,
    g: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    t: torch.Tensor,
    lr: torch.Tensor,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FlatAdam.step as a pure function, for updates under torch.func.vmap / torch.compile / CUDA graphs
    that must not write in place or read numbers on the host. t (the count after this step) and lr are
    0-dim float64 tensors, so the bias corrections are the default FlatAdam's double-precision ones
    (in float32, 1 - 0.999**t is off by 1e-5 relative at the first steps) and the elementwise ops are
    its ops: equal to FlatAdam.step bitwise where the ops run unfused. -> new (p, m, v)

    Example:
        >>> p, m, v = adam_step(p, grad, m, v, t=t + 1, lr=lr)
    """
    b1, b2 = betas
    # in place on new tensors only (never on the arguments): each P-sized allocation costs more than
    # its arithmetic on the CPU
    m = m.lerp(g, 1 - b1)
    v = (v * b2).addcmul(g, g, value=1 - b2)  # (addcmul_ has no vmap batching rule)
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    denom = (v / bc2).sqrt_().add_(eps)
    return (m * (-lr / bc1)).div_(denom).add_(p), m, v  # p + step / denom, as addcdiv_


class Gradients:
    """The gradient of a sum of losses w.r.t. the parameters of several FlatAdams, written into their
    flat .grad buffers, then (`step`) each optimizer's own clipped step: one backward for networks
    stepped together (PPO's actor and critic), with room between backward and steps for a look at the
    metrics (PPO's KL early stop checks a minibatch's KL before its step).

    `losses_fn(*args) -> (losses, metrics)` computes the losses from the modules under `root`;
    `grads(*args)` fills every optimizer's .grad with d(sum of losses)/d(its parameters) and returns
    the metrics. For networks with disjoint parameters each parameter's gradient comes from its own
    network's loss only and autograd passes the sum's gradient of 1 on exactly, so the eager steps are
    bitwise those of separate `minimize` calls (tests/test_optim.py). (A loss that reaches another
    network's parameters adds its gradient there too.)

    compile=False: autograd (zero_grad, backward).
    compile=True: the same `losses_fn` run with the parameters replaced by views of the flat buffers
    (torch.func.functional_call), differentiated by torch.func.grad, all through torch.compile. Forward
    and backward then become one graph of a few fused C++ loops and matmul calls instead of ~50
    autograd nodes, each costing more than its arithmetic for 64x64 MLPs: about 4x less time per PPO
    minibatch on this CPU (benchmarks/ppo_throughput.py). Equal to autograd within float tolerance
    (tests/test_ppo_compile.py). The first call compiles (seconds; once per input shape and per
    distinct Python argument, e.g. a bool); if compiling fails it warns once and uses autograd.
    """

    def __init__(
        self,
        losses_fn: Callable[..., tuple[Sequence[torch.Tensor], dict]],
        root: nn.Module,
        opts: Sequence[FlatAdam],
        compile: bool = False,
    ):
        self.losses_fn, self.opts = losses_fn, list(opts)
        self._compiled: Compiled | None = None
        self._compiled_step: Compiled | None = None
        if compile:
            # where each of root's parameters lives: (optimizer index, offset, numel, shape)
            owner = {
                id(p): (i, (p.data_ptr() - o.flat.data_ptr()) // p.element_size())
                for i, o in enumerate(self.opts)
                for p in o.params
            }
            self._layout = {}
            for name, p in root.named_parameters():
                if id(p) not in owner:
                    raise ValueError(f"Gradients: parameter {name} belongs to none of the optimizers")
                i, off = owner[id(p)]
                self._layout["root." + name] = (i, off, p.numel(), p.shape)
            self._holder = _Call(root, losses_fn)
            # past dynamo's recompile limit (many shapes in one process, e.g. an in-process sweep) it
            # would run the functional version eagerly, ~4x slower than autograd: raise instead, so the
            # fallback takes autograd
            torch._dynamo.config.fail_on_recompile_limit_hit = True
            self._compiled = Compiled(
                self._functional, fallback=lambda flats, *args: self._autograd(*args), what=" for the gradients"
            )
            # the optimizers' steps as one more graph: a handful of fused loops instead of ~12 ops per
            # optimizer; needs capturable optimizers (lr and t as tensors: no recompiles as the
            # learning rate anneals)
            if self._compiled.ok and all(o.capturable for o in self.opts):
                self._compiled_step = Compiled(step_all, what=" on the optimizer step")

    def __call__(self, *args: Any) -> dict:
        if self._compiled is not None:
            return self._compiled([o.flat for o in self.opts], *args)
        return self._autograd(*args)

    def step(self, opts: Sequence[FlatAdam], max_grad_norm: float = 0.0) -> None:
        """Each of `opts` takes its clipped Adam step from the gradients filled in by the last call."""
        (self._compiled_step or step_all)(opts, max_grad_norm)

    def _autograd(self, *args: Any) -> dict:
        for opt in self.opts:
            opt.zero_grad()
        losses, metrics = self.losses_fn(*args)
        sum(losses[1:], losses[0]).backward()
        return metrics

    def _functional(self, flats: list[torch.Tensor], *args: Any) -> dict:
        def total(flats: list[torch.Tensor]):
            params = {name: flats[i][off : off + n].view(shape) for name, (i, off, n, shape) in self._layout.items()}
            losses, metrics = torch.func.functional_call(self._holder, params, args)
            return sum(losses[1:], losses[0]), metrics

        grads, metrics = torch.func.grad(total, has_aux=True)(flats)
        for opt, g in zip(self.opts, grads):
            opt.grad.copy_(g)
        return metrics


def step_all(opts: Sequence[FlatAdam], max_grad_norm: float = 0.0) -> None:
    for opt in opts:
        opt.step(max_grad_norm)


def set_learning_rates(owner: Any, fields: Iterable[str]) -> None:
    """Copy the learning-rate fields `fields` of owner.cfg into the optimizers that owner.lr_fields
    names (config field -> attribute holding a FlatAdam or a torch optimizer). Agents and meta-trainers
    share it as their `set_learning_rates` method: a --resume that changes a rate reaches the optimizer
    (a loaded checkpoint restores the saved rates, which would otherwise win silently)."""
    for field in fields:
        opt = getattr(owner, owner.lr_fields[field], None)
        lr = float(getattr(owner.cfg, field))
        if isinstance(opt, FlatAdam):
            opt.lr = lr
        elif isinstance(opt, torch.optim.Optimizer):
            for group in opt.param_groups:
                group["lr"] = lr


class _Call(nn.Module):
    """Runs `fn(*args)` as this module's forward, so torch.func.functional_call can substitute the
    parameters of `root` (which `fn` reads through the agent's own module attributes) while it runs."""

    def __init__(self, root: nn.Module, fn: Callable):
        super().__init__()
        self.root, self.fn = root, fn

    def forward(self, *args: Any):
        return self.fn(*args)
