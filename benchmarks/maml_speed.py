"""Meta-iteration time of MAML on sine regression: rlmeta's torch.func (vmap over the tasks of a
meta-batch) against per-task Python loops, the way learn2learn works, measured side by side.

One meta-iteration = sample 25 tasks (K=10 support + 10 query points), inner SGD step(s) per task,
query loss, meta-gradient (backward), Adam step: the MAML reference protocol's 2x40 ReLU regressor.
Compared, from the same initial weights and the same task batches:

- `vmap`: MetaLearner.meta_loss(vectorize=True): torch.func.grad inside torch.func.vmap;
- `loop, clone/adapt`: rlmeta's learn2learn-style interface (`learner = maml.clone();
  learner.adapt(loss)`, torch.autograd.grad(create_graph=True)), one task after another;
- `loop, module rewriting`: learn2learn 0.2's own mechanism re-implemented in 30 lines (its
  `clone_module` copies the module with cloned parameter tensors, `update_module` writes
  p - lr * g back into `module._parameters`);
- `learn2learn 0.2.0`: learn2learn itself (`l2l.algorithms.MAML`, its examples' loop), when
  installed (extra `meta`; scripts/install_learn2learn.sh builds it on Python >= 3.11).

The methods take turns in blocks of --block meta-iterations (background load hits all alike); the
median over blocks is reported, and the speed-up as the median ratio of adjacent blocks. Before timing, the meta-gradients of
all methods are checked to agree.

Run:
    nice -n 10 .venv/bin/python benchmarks/maml_speed.py          # -> benchmarks/results/maml_speed.{md,png}
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.agents.maml.core import MetaLearner
from rlmeta.agents.maml.sine import mse, sample_sine_tasks
from rlmeta.benchmarks.report import machine_line
from rlmeta.core.networks import mlp

RESULTS = Path(__file__).parent / "results"
META_BATCH, K, LR = 25, 10, 0.01


# ---------------------------------------------------------------------- learn2learn's mechanism
def clone_module(m: nn.Module) -> nn.Module:
    """learn2learn.utils.clone_module, reduced to what an MLP needs: a shallow copy of every
    submodule whose parameters are replaced by differentiable clones."""
    c = m.__new__(type(m))
    c.__dict__ = m.__dict__.copy()
    c._parameters = type(m._parameters)((k, p.clone() if p is not None else None) for k, p in m._parameters.items())
    c._buffers = m._buffers.copy()
    c._modules = type(m._modules)((k, clone_module(s)) for k, s in m._modules.items())
    return c


def update_module(m: nn.Module, grads: list[torch.Tensor], lr: float) -> None:
    """learn2learn's maml_update + update_module: p <- p - lr * g written back into _parameters."""
    it = iter(grads)
    for mod in m.modules():
        for k, p in mod._parameters.items():
            if p is not None:
                mod._parameters[k] = p - lr * next(it)


# ---------------------------------------------------------------------- one meta-iteration each
def step_vmap(maml: MetaLearner, opt, b, steps: int) -> torch.Tensor:
    loss = maml.meta_loss(mse, *b[:4], steps=steps, vectorize=True)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def _clone_adapt_loop(clone, opt, b, steps: int) -> torch.Tensor:
    """learn2learn's per-task pattern: clone, adapt `steps` times, sum the query losses, one step."""
    xs, ys, xq, yq = b[:4]
    total = 0.0
    for i in range(xs.shape[0]):
        learner = clone()
        for _ in range(steps):
            learner.adapt(mse(learner(xs[i]), ys[i]))
        total = total + mse(learner(xq[i]), yq[i])
    loss = total / xs.shape[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def step_clone_loop(maml: MetaLearner, opt, b, steps: int) -> torch.Tensor:
    return _clone_adapt_loop(maml.clone, opt, b, steps)


def step_module_loop(maml: MetaLearner, opt, b, steps: int) -> torch.Tensor:
    xs, ys, xq, yq = b[:4]
    total = 0.0
    second_order = not maml.first_order
    for i in range(xs.shape[0]):
        learner = clone_module(maml.model)
        for _ in range(steps):
            loss_in = mse(learner(xs[i]), ys[i])
            g = torch.autograd.grad(loss_in, list(learner.parameters()), create_graph=second_order)
            update_module(learner, list(g) if second_order else [gi.detach() for gi in g], LR)
        total = total + mse(learner(xq[i]), yq[i])
    loss = total / xs.shape[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def step_l2l(maml: MetaLearner, opt, b, steps: int) -> torch.Tensor:
    import learn2learn as l2l

    # the wrapper only holds a reference to maml.model (no copy), so building it per call is free
    algo = l2l.algorithms.MAML(maml.model, lr=LR, first_order=maml.first_order)
    return _clone_adapt_loop(algo.clone, opt, b, steps)


METHODS: dict[str, Callable] = {
    "vmap (rlmeta)": step_vmap,
    "loop, clone/adapt": step_clone_loop,
    "loop, module rewriting (learn2learn's way)": step_module_loop,
}
try:
    import learn2learn

    METHODS[f"learn2learn {learn2learn.__version__} (l2l.algorithms.MAML)"] = step_l2l
except ImportError:
    pass


def make(first_order: bool) -> tuple[MetaLearner, torch.optim.Optimizer]:
    torch.manual_seed(0)
    maml = MetaLearner(mlp([1, 40, 40, 1], "relu"), inner_lr=LR, first_order=first_order)
    return maml, torch.optim.Adam(maml.parameters(), lr=1e-3)


def check_agreement(first_order: bool, steps: int) -> float:
    """Max |difference| of the meta-gradients of all methods (vs the first) on one batch."""
    b = sample_sine_tasks(META_BATCH, K, K, torch.Generator().manual_seed(1))
    grads = []
    for fn in METHODS.values():
        maml, opt = make(first_order)
        opt.step = lambda: None  # keep the gradient, skip the update
        fn(maml, opt, b, steps)
        grads.append(torch.cat([p.grad.flatten() for p in maml.parameters()]))
    return max((g - grads[0]).abs().max().item() for g in grads[1:])


def time_setting(first_order: bool, steps: int, blocks: int, block: int) -> dict[str, list[float]]:
    """Seconds per meta-iteration of each method, per block of `block` iterations. The methods take
    turns block by block (each keeps its own learner, optimiser and task stream), so load from other
    jobs on the machine hits them alike; 5 warm-up iterations each first."""
    state = {}
    for label, fn in METHODS.items():
        maml, opt = make(first_order)
        gen = torch.Generator().manual_seed(0)
        for _ in range(5):
            fn(maml, opt, sample_sine_tasks(META_BATCH, K, K, gen), steps)
        state[label] = (fn, maml, opt, gen)
    out: dict[str, list[float]] = {label: [] for label in METHODS}
    for _ in range(blocks):
        for label, (fn, maml, opt, gen) in state.items():
            t0 = time.perf_counter()
            for _ in range(block):
                fn(maml, opt, sample_sine_tasks(META_BATCH, K, K, gen), steps)
            out[label].append((time.perf_counter() - t0) / block)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=15, help="blocks per method and setting (methods take turns)")
    p.add_argument("--block", type=int, default=20, help="meta-iterations per block")
    args = p.parse_args()
    torch.set_num_threads(1)
    settings = [
        ("second order, 1 inner step", False, 1),
        ("first order, 1 inner step", True, 1),
        ("second order, 5 inner steps", False, 5),
    ]
    agree = {name: check_agreement(fo, steps) for name, fo, steps in settings}
    times = {}
    for name, fo, steps in settings:
        times[name] = time_setting(fo, steps, args.blocks, args.block)
        print(f"{name}: done", flush=True)
    vm = "vmap (rlmeta)"
    med = {(name, label): statistics.median(v) for name, per in times.items() for label, v in per.items()}

    lines = [
        "# MAML meta-iteration time: torch.func vmap vs per-task loops (sine regression)",
        "",
        f"Command: `nice -n 10 .venv/bin/python benchmarks/maml_speed.py --blocks {args.blocks} --block {args.block}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}; torch on 1 thread; the {len(METHODS)} methods take turns in "
        f"{args.blocks} blocks of {args.block} meta-iterations (after 5 warm-up iterations each), so background "
        "load (other jobs shared the 2 cores) hits them alike; medians over blocks.",
        "",
        f"Meta-iteration: sample {META_BATCH} tasks (K={K} support + {K} query), inner SGD (lr {LR}), query "
        "loss, backward, Adam step; 2x40 ReLU. learn2learn's mechanism (clone_module / update_module) is also "
        "re-implemented in the script; learn2learn itself is timed when installed. Speed-up: median over blocks "
        "of (loop time / vmap time of the adjacent vmap block).",
        "",
        "| setting | method | ms / meta-iteration (median) | interquartile range (ms) | speed-up of vmap | max abs meta-grad difference vs vmap |",
        "|---|---|---:|---|---:|---:|",
    ]
    for name, _, _ in settings:
        for label in METHODS:
            v = np.array(times[name][label]) * 1e3
            q1, q3 = np.percentile(v, [25, 75])
            if label == vm:
                speed, diff = "", ""
            else:
                speed = f"{statistics.median(np.array(times[name][label]) / np.array(times[name][vm])):.1f}x"
                diff = f"{agree[name]:.1e} (largest of the loops)"
            lines.append(f"| {name} | {label} | {np.median(v):.1f} | {q1:.1f} - {q3:.1f} | {speed} | {diff} |")
    lines += ["", "![speed](maml_speed.png)", ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "maml_speed.md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(settings))
    width = 0.8 / len(METHODS)
    for j, label in enumerate(METHODS):
        ax.bar(
            x + (j - (len(METHODS) - 1) / 2) * width, [med[(s[0], label)] * 1e3 for s in settings], width, label=label
        )
    ax.set_xticks(x, [s[0] for s in settings])
    ax.set_ylabel("ms per meta-iteration (lower is better)")
    ax.set_title(f"MAML sine, meta-batch {META_BATCH}, K={K}, 1 CPU thread")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "maml_speed.png", dpi=120)
    print((RESULTS / "maml_speed.md").read_text())


if __name__ == "__main__":
    main()
