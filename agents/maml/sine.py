"""Sine-wave regression (Finn et al. 2017, section 5.1): the supervised MAML benchmark.

Task: y = A sin(x - phi), A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5]; K support points to adapt
on, loss MSE. Reference protocol (the MAML code's defaults): 2x40 ReLU, meta-batch 25, one inner
SGD step with lr 0.01 during training, Adam meta lr 1e-3, 70,000 meta-iterations; evaluation
after 0, 1 and 10 inner steps on 600 held-out tasks. We evaluate on 100 query points per task and
report the mean MSE with a 95% confidence interval (1.96 standard errors over tasks).

Example:
    rlmeta meta-train sine --k-shot 10 --meta-iterations 20000 --run-dir runs/maml-sine-k10
    rlmeta meta-train sine --meta-sgd --k-shot 5          # Meta-SGD
    rlmeta meta-train sine --adapt head                   # ANIL
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import torch

from rlmeta.agents.maml.config import MetaRunConfig
from rlmeta.agents.maml.core import MetaLearner
from rlmeta.core.errors import ConfigError
from rlmeta.core.memory import check_fits, mlp_params
from rlmeta.core.networks import mlp
from rlmeta.core.optim import set_learning_rates
from rlmeta.core.seeding import resolve_device

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


class SineBatch(NamedTuple):
    xs: torch.Tensor  # [M, K, 1] support inputs
    ys: torch.Tensor  # [M, K, 1]
    xq: torch.Tensor  # [M, Q, 1] query inputs
    yq: torch.Tensor  # [M, Q, 1]
    amplitude: torch.Tensor  # [M]
    phase: torch.Tensor  # [M]


def sample_sine_tasks(
    n: int, k_support: int, k_query: int, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> SineBatch:
    """n tasks with k_support + k_query points each (support and query drawn independently)."""

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator, dtype=dtype)

    amp, phase = u(*AMPLITUDE, n), u(*PHASE, n)
    x = u(*X_RANGE, n, k_support + k_query, 1)
    y = amp[:, None, None] * torch.sin(x - phase[:, None, None])
    return SineBatch(x[:, :k_support], y[:, :k_support], x[:, k_support:], y[:, k_support:], amp, phase)


def mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (pred - y).pow(2).mean()


def mean_ci95(x: torch.Tensor) -> tuple[float, float]:
    """Mean and the half-width of its 95% normal confidence interval (1.96 standard errors)."""
    x = x.double()
    return x.mean().item(), 1.96 * x.std(unbiased=True).item() / math.sqrt(x.numel())


@dataclass
class SineConfig(MetaRunConfig):
    """MAML / Meta-SGD / ANIL on sine regression (defaults: the MAML paper's protocol)."""

    meta_iterations: int = 70_000
    """Meta-updates (the MAML paper: 70,000)."""
    k_shot: int = 10
    """Support points per task (K); the training query set has as many (MAML's protocol)."""
    meta_batch: int = 25
    """Tasks per meta-update."""
    hidden_sizes: tuple[int, ...] = (40, 40)
    """Hidden layer sizes of the regressor."""
    activation: str = "relu"
    """Hidden activation: relu, tanh or elu."""
    inner_lr: float = 0.01
    """Inner-loop SGD step size (the initial value of the learned lrs with --meta-sgd)."""
    inner_steps: int = 1
    """Inner SGD steps during meta-training."""
    meta_lr: float = 1e-3
    """Adam learning rate of the outer loop."""
    first_order: bool = False
    """First-order MAML: drop the second-order term (detach the inner gradient)."""
    meta_sgd: bool = False
    """Meta-SGD: meta-learn one inner learning rate per parameter entry."""
    adapt: Literal["all", "head"] = "all"
    """Parameters adapted in the inner loop: all, or head (ANIL: last layer only)."""
    vectorize: bool = True
    """vmap the tasks of a meta-batch (False: a per-task Python loop, the way learn2learn works)."""
    eval_tasks: int = 600
    """Held-out tasks in the final evaluation."""
    eval_query: int = 100
    """Query points per held-out task."""
    eval_steps: tuple[int, ...] = (0, 1, 10)
    """Inner steps after which the held-out MSE is reported."""
    eval_seed: int = 12345
    """Seed of the held-out tasks (fixed, so every run is evaluated on the same tasks)."""
    log_every: int = 100
    """Write a progress.csv row every this many meta-iterations."""
    checkpoint_every: int = 5000
    """Write checkpoint.pt every this many meta-iterations; always at the end."""

    def validate(self) -> None:
        super().validate()
        for name in ("k_shot", "meta_batch", "eval_tasks", "eval_query"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.inner_steps < 0:
            raise ConfigError(f"--inner-steps must be >= 0, got {self.inner_steps}")
        if self.activation not in ("relu", "tanh", "elu"):
            raise ConfigError(f"--activation must be relu, tanh or elu, got {self.activation}")
        if not self.hidden_sizes or min(self.hidden_sizes) <= 0:
            raise ConfigError(f"--hidden-sizes must be positive, got {self.hidden_sizes}")
        if not self.eval_steps or min(self.eval_steps) < 0:
            raise ConfigError(f"--eval-steps must be >= 0, got {self.eval_steps}")
        # the network for every task of a meta-batch (vmapped), with Adam
        check_fits(
            {
                "networks": (self.meta_batch + 4) * 4 * mlp_params([1, *self.hidden_sizes, 1]),
                "task batch": self.meta_batch * (self.k_shot + self.eval_query) * max(self.hidden_sizes) * 4,
            },
            "--hidden-sizes / --meta-batch / --k-shot",
        )


class SineTrainer:
    """Owns the meta-learner, the outer Adam and the task generator; one `iteration()` = one meta-update."""

    lr_fields: ClassVar[dict[str, str]] = {"meta_lr": "optimizer"}  # --resume RUN --meta-lr X reaches the Adam
    set_learning_rates = set_learning_rates

    def __init__(self, cfg: SineConfig):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        model = mlp([1, *cfg.hidden_sizes, 1], cfg.activation)
        self.learner = MetaLearner(model, cfg.inner_lr, cfg.first_order, cfg.meta_sgd, cfg.adapt).to(self.device)
        self.optimizer = torch.optim.Adam(self.learner.parameters(), lr=cfg.meta_lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.global_step = self.iteration_count = 0

    def iteration(self) -> dict[str, float]:
        c = self.cfg
        b = sample_sine_tasks(c.meta_batch, c.k_shot, c.k_shot, self.gen)
        xs, ys, xq, yq = (t.to(self.device) for t in b[:4])
        loss = self.learner.meta_loss(mse, xs, ys, xq, yq, steps=c.inner_steps, vectorize=c.vectorize)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration_count += 1
        self.global_step = self.iteration_count
        metrics = {"losses/meta_loss": loss.item()}
        if self.iteration_count % c.log_every == 0:  # the pre-adaptation loss on the same query sets
            with torch.no_grad():
                metrics["losses/pre_adapt_loss"] = mse(self.learner(xq), yq).item()
        return metrics

    def evaluate(
        self, n_tasks: int | None = None, steps: tuple[int, ...] | None = None, k_shot: int | None = None
    ) -> dict[int, tuple[float, float]]:
        """-> {inner steps: (mean MSE, 95% CI half-width)} on the fixed held-out tasks."""
        c = self.cfg
        gen = torch.Generator().manual_seed(c.eval_seed)
        b = sample_sine_tasks(n_tasks or c.eval_tasks, k_shot or c.k_shot, c.eval_query, gen)
        xs, ys, xq, yq = (t.to(self.device) for t in b[:4])
        per_task = self.learner.evaluate(mse, xs, ys, xq, yq, steps or c.eval_steps)
        return {n: mean_ci95(v) for n, v in per_task.items()}

    def final_eval(self, run_dir: Path) -> dict[str, float]:
        res = self.evaluate()
        (run_dir / "eval.json").write_text(
            json.dumps(
                {
                    "k_shot": self.cfg.k_shot,
                    "eval_tasks": self.cfg.eval_tasks,
                    "mse": {str(n): {"mean": m, "ci95": ci} for n, (m, ci) in res.items()},
                },
                indent=2,
            )
        )
        for n, (m, ci) in res.items():
            print(f"maml sine K={self.cfg.k_shot}: MSE after {n:>2} steps = {m:.3f} +- {ci:.3f}")
        return {f"eval/mse_{n}_steps": m for n, (m, _) in res.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "learner": self.learner.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "gen": self.gen.get_state(),
            "iteration": self.iteration_count,
        }

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.learner.load_state_dict(d["learner"])
        self.optimizer.load_state_dict(d["optimizer"])
        self.gen.set_state(d["gen"])
        self.iteration_count = self.global_step = int(d["iteration"])
