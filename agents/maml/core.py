"""MAML's functional core: inner-loop SGD on a dict of parameters, vectorised over tasks.

The model is an ordinary `nn.Module`; its parameters are passed around as `{name: tensor}` dicts
and evaluated with `torch.func.functional_call`. One inner step is

    theta'_i = theta - lr * grad_theta L_support_i(theta)

and the meta-loss is mean_i L_query_i(theta'_i). Three options of the same update
(`MetaLearner(...)`), not three classes:

- `first_order`: the inner gradient is detached, so d theta'/d theta = I (FOMAML);
- `meta_sgd`: `lr` is a learned tensor per parameter (Li et al. 2017, Meta-SGD), initialised to
  `inner_lr` and meta-trained with theta;
- `adapt`: which parameters the inner loop moves; "head" adapts only the last layer (ANIL,
  Raghu et al. 2020), the body is shared and only meta-trained.

`meta_loss(...)` runs one task per `torch.func.vmap` lane: the inner gradient is
`torch.func.grad`, which composes with ordinary autograd, so `meta_loss(...).backward()` gives the
second-order meta-gradient (tests/test_maml.py checks it against a hand-written
`torch.autograd.grad(create_graph=True)` loop to 1e-10 in float64). `vectorize=False` runs the same
function in a Python loop over tasks (the way learn2learn works; ~8x slower on sine regression).

`clone()` returns a learn2learn-style learner (`learner.adapt(loss)`, `learner(x)`) that calls the
same `sgd_step` with autograd gradients of the loss you hand it.

Example:
    >>> model = mlp([1, 40, 40, 1], "relu")
    >>> maml = MetaLearner(model, inner_lr=0.01)
    >>> mse = lambda pred, y: (pred - y).pow(2).mean()
    >>> loss = maml.meta_loss(mse, xs, ys, xq, yq, steps=1)   # xs [M, K, 1] ... one task per row
    >>> loss.backward()                                        # meta-gradient in model's .grad
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Union

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

Params = dict[str, torch.Tensor]
LossFn = Callable[..., torch.Tensor]  # (prediction, *targets) -> scalar
AdaptSpec = Union[Literal["all", "head"], Sequence[str]]


def sgd_step(params: Params, grads: Params, lrs: dict[str, torch.Tensor | float], first_order: bool = False) -> Params:
    """One inner SGD step on the parameters named in `grads`; the others are carried unchanged.

    first_order detaches the gradient (FOMAML): the result still depends on theta (and on a learned
    lr) but not through the gradient's own dependence on theta.
    """
    out = dict(params)
    for k, g in grads.items():
        out[k] = params[k] - lrs[k] * (g.detach() if first_order else g)
    return out


def head_names(model: nn.Module) -> list[str]:
    """Names of the parameters of the last module that owns parameters (ANIL's head)."""
    last = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))][-1]
    ids = {id(p) for p in last.parameters(recurse=False)}
    return [n for n, p in model.named_parameters() if id(p) in ids]


class MetaLearner(nn.Module):
    """A model, its meta-parameters and (Meta-SGD) learned inner learning rates.

    `parameters()` yields everything the outer optimiser trains: the model's weights and, with
    meta_sgd, one learned lr tensor per adapted parameter (`self.lrs`).
    """

    def __init__(
        self,
        model: nn.Module,
        inner_lr: float = 0.01,
        first_order: bool = False,
        meta_sgd: bool = False,
        adapt: AdaptSpec = "all",
    ):
        super().__init__()
        self.model = model
        self.inner_lr = inner_lr
        self.first_order = first_order
        self.meta_sgd = meta_sgd
        names = [n for n, _ in model.named_parameters()]
        if adapt == "all":
            self.adapt_names = names
        elif adapt == "head":
            self.adapt_names = head_names(model)
        else:
            unknown = set(adapt) - set(names)
            if unknown:
                raise ValueError(f"adapt names {sorted(unknown)} are not parameters of the model")
            self.adapt_names = list(adapt)
        # ParameterDict keys may not contain '.', so the lrs are stored under mangled names.
        self.lrs = nn.ParameterDict()
        if meta_sgd:
            for n, p in model.named_parameters():
                if n in self.adapt_names:
                    self.lrs[n.replace(".", "__")] = nn.Parameter(torch.full_like(p.detach(), inner_lr))

    # ------------------------------------------------------------------ functional pieces
    def params(self) -> Params:
        """The meta-parameters as a {name: Parameter} dict (differentiable)."""
        return dict(self.model.named_parameters())

    def lr_dict(self) -> dict[str, torch.Tensor | float]:
        if self.meta_sgd:
            return {n: self.lrs[n.replace(".", "__")] for n in self.adapt_names}
        return dict.fromkeys(self.adapt_names, self.inner_lr)

    def forward(self, x: torch.Tensor, params: Params | None = None) -> torch.Tensor:
        """The model evaluated at `params` (default: the meta-parameters)."""
        return functional_call(self.model, params if params is not None else self.params(), (x,))

    def inner_step(self, params: Params, loss_of_params: Callable[[Params], torch.Tensor]) -> Params:
        """theta' = theta - lr * d loss_of_params / d theta (adapted names only), via torch.func.grad."""
        fast = {k: params[k] for k in self.adapt_names}
        rest = {k: v for k, v in params.items() if k not in fast}
        g = grad(lambda f: loss_of_params({**rest, **f}))(fast)
        return sgd_step(params, g, self.lr_dict(), self.first_order)

    def adapt_params(
        self, loss_fn: LossFn, x: torch.Tensor, *targets: torch.Tensor, steps: int = 1, params: Params | None = None
    ) -> Params:
        """`steps` inner steps on one task's support set: x [K, ...], targets [K, ...]."""
        params = self.params() if params is None else params
        for _ in range(steps):
            params = self.inner_step(params, lambda p: loss_fn(self(x, p), *targets))
        return params

    def _task_query_loss(self, params: Params, loss_fn: LossFn, steps: int, xs, ys, xq, yq):
        adapted = self.adapt_params(loss_fn, xs, ys, steps=steps, params=params)
        return loss_fn(self(xq, adapted), yq)

    def meta_loss(
        self,
        loss_fn: LossFn,
        xs: torch.Tensor,
        ys: torch.Tensor,
        xq: torch.Tensor,
        yq: torch.Tensor,
        steps: int = 1,
        vectorize: bool = True,
        reduce: bool = True,
    ) -> torch.Tensor:
        """Query loss after `steps` inner steps, per task: support xs [M, K, ...], ys [M, K, ...];
        query xq [M, Q, ...], yq [M, Q, ...]. -> mean over the M tasks (or [M] with reduce=False).

        vectorize=True: one vmap lane per task; False: a Python loop over tasks (same numbers).
        """
        params = self.params()
        if vectorize:
            per_task = vmap(self._task_query_loss, in_dims=(None, None, None, 0, 0, 0, 0))(
                params, loss_fn, steps, xs, ys, xq, yq
            )  # [M]
        else:
            per_task = torch.stack(
                [self._task_query_loss(params, loss_fn, steps, xs[i], ys[i], xq[i], yq[i]) for i in range(xs.shape[0])]
            )
        return per_task.mean() if reduce else per_task

    @torch.no_grad()
    def evaluate(self, loss_fn: LossFn, xs, ys, xq, yq, steps: Iterable[int]) -> dict[int, torch.Tensor]:
        """Per-task query losses [M] after each number of inner steps in `steps` (no meta-graph).

        The inner gradients are still computed (torch.func.grad ignores the outer no_grad)."""
        params = {k: v.detach() for k, v in self.params().items()}
        out: dict[int, torch.Tensor] = {}

        def losses_after(n: int):
            return vmap(self._task_query_loss, in_dims=(None, None, None, 0, 0, 0, 0))(
                params, loss_fn, n, xs, ys, xq, yq
            )

        for n in steps:
            out[n] = losses_after(n)
        return out

    # ------------------------------------------------------------------ learn2learn-style interface
    def clone(self) -> Clone:
        """A learner holding theta (still attached to the meta-parameters) that `adapt(loss)` moves.

        Example:
            >>> learner = maml.clone()
            >>> learner.adapt(mse(learner(x_support), y_support))
            >>> mse(learner(x_query), y_query).backward()   # meta-gradient into maml's parameters
        """
        return Clone(self, self.params())


class Clone:
    """learn2learn's `clone()` / `adapt(loss)` on top of `sgd_step`: a functional view, no copied module."""

    def __init__(self, learner: MetaLearner, params: Params):
        self.learner = learner
        self.params = params

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.learner(x, self.params)

    def adapt(self, loss: torch.Tensor, first_order: bool | None = None) -> Clone:
        """One inner step on `loss` (a scalar computed with this clone). Returns self."""
        fo = self.learner.first_order if first_order is None else first_order
        names = self.learner.adapt_names
        g = torch.autograd.grad(loss, [self.params[n] for n in names], create_graph=not fo, allow_unused=True)
        grads = {n: (gi if gi is not None else torch.zeros_like(self.params[n])) for n, gi in zip(names, g)}
        self.params = sgd_step(self.params, grads, self.learner.lr_dict(), first_order=fo)
        return self

    def clone(self) -> Clone:
        return Clone(self.learner, dict(self.params))
