"""Natural-gradient machinery shared by TRPO and MAML-TRPO: conjugate gradient, Fisher-vector
products and a backtracking line search on a KL constraint."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def flat_grad(
    y: torch.Tensor, params: list[torch.Tensor], create_graph: bool = False, retain_graph: bool | None = None
) -> torch.Tensor:
    """d y / d params, concatenated into one vector [P]."""
    g = torch.autograd.grad(y, params, create_graph=create_graph, retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1) for gi, p in zip(g, params)])


def conjugate_gradient(
    Avp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int = 10, residual_tol: float = 1e-10
) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive-definite A given only x -> A x.  [P] -> [P]"""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r.dot(r)
    for _ in range(iters):
        Ap = Avp(p)
        alpha = rr / (p.dot(Ap) + 1e-12)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r.dot(r)
        if rr_new < residual_tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def fisher_vector_product(
    kl_fn: Callable[[], torch.Tensor], params: list[torch.Tensor], damping: float = 0.1
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> (H_KL + damping I) v, where H_KL is the Hessian of kl_fn() (the mean KL between the old
    and current policy, evaluated at old == current) w.r.t. params: the Fisher information matrix."""
    kl = kl_fn()
    grad_kl = flat_grad(kl, params, create_graph=True)

    def fvp(v: torch.Tensor) -> torch.Tensor:
        return flat_grad(grad_kl.dot(v), params, retain_graph=True) + damping * v

    return fvp


def get_flat_params(module: nn.Module) -> torch.Tensor:
    """A copy of all of `module`'s parameters as one vector [P]; unlike rlmeta.core.optim.flatten_params,
    which re-homes the parameters as views of a new buffer, this leaves them where they are (the line
    search keeps it as the point to step from and return to)."""
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


@torch.no_grad()
def set_flat_params(module: nn.Module, flat: torch.Tensor) -> None:
    i = 0
    for p in module.parameters():
        n = p.numel()
        p.copy_(flat[i : i + n].view_as(p))
        i += n


@torch.no_grad()
def backtracking_line_search(
    module: nn.Module,
    step: torch.Tensor,  # [P] full natural-gradient step
    surrogate_fn: Callable[[], torch.Tensor],  # -> loss to *decrease*
    kl_fn: Callable[[], torch.Tensor],  # -> mean KL(old || current)
    max_kl: float,
    backtrack_coef: float = 0.8,
    backtrack_iters: int = 10,
) -> tuple[bool, int]:
    """Try params + coef^j * step, j = 0..iters-1; accept the first that lowers the surrogate loss and
    keeps KL <= max_kl. Otherwise restore the old params. -> (accepted, j)"""
    old = get_flat_params(module)
    loss_old = surrogate_fn()
    for j in range(backtrack_iters):
        set_flat_params(module, old + (backtrack_coef**j) * step)
        if kl_fn() <= max_kl and surrogate_fn() <= loss_old:
            return True, j
    set_flat_params(module, old)
    return False, backtrack_iters
