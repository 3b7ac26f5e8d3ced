"""MAML's functional core against hand-written autograd loops (float64), and a short sine run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rlmeta.agents.maml.core import MetaLearner, head_names
from rlmeta.agents.maml.sine import SineConfig, SineTrainer, mse, sample_sine_tasks
from rlmeta.core.networks import mlp

torch.set_num_threads(1)  # 2 threads on a shared 2-core CPU made the sine run 7x slower


@pytest.fixture(autouse=True)
def float64():
    """float64 for the gradient comparisons, restored afterwards (a module-level switch would leak
    into every test module collected after this one)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return mlp([1, 8, 8, 1], "tanh").double()


def _f(x, W1, b1, W2, b2, W3, b3):
    """The same MLP written out by hand (no functional_call)."""
    h = torch.tanh(x @ W1.T + b1)
    h = torch.tanh(h @ W2.T + b2)
    return h @ W3.T + b3


def _data(m=4, k=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    b = sample_sine_tasks(m, k, 7, g, dtype=torch.float64)
    return b.xs, b.ys, b.xq, b.yq


def _hand_meta_grad(model, data, lr, steps, first_order=False, lrs=None, adapt_idx=None):
    """Per-task loop with torch.autograd.grad(create_graph=True): the textbook MAML meta-gradient."""
    theta = list(model.parameters())
    xs, ys, xq, yq = data
    adapt_idx = range(len(theta)) if adapt_idx is None else adapt_idx
    total = 0.0
    for i in range(xs.shape[0]):
        p = list(theta)
        for _ in range(steps):
            loss = ((_f(xs[i], *p) - ys[i]) ** 2).mean()
            g = torch.autograd.grad(loss, [p[j] for j in adapt_idx], create_graph=not first_order)
            for j, gj in zip(adapt_idx, g):
                step = lrs[j] if lrs is not None else lr
                p[j] = p[j] - step * (gj.detach() if first_order else gj)
        total = total + ((_f(xq[i], *p) - yq[i]) ** 2).mean()
    meta = total / xs.shape[0]
    wrt = theta + (list(lrs) if lrs is not None else [])
    return meta, torch.autograd.grad(meta, wrt)


def _ours(learner, data, steps, vectorize=True):
    learner.zero_grad(set_to_none=True)
    loss = learner.meta_loss(mse, *data, steps=steps, vectorize=vectorize)
    loss.backward()
    grads = [p.grad for p in learner.model.parameters()]
    if learner.meta_sgd:
        grads += [learner.lrs[n.replace(".", "__")].grad for n in learner.adapt_names]
    return loss, grads


def test_second_order_meta_gradient_matches_autograd_loop():
    data = _data()
    for steps in (1, 2):
        learner = MetaLearner(_model(), inner_lr=0.3)
        loss, grads = _ours(learner, data, steps)
        ref_loss, ref = _hand_meta_grad(learner.model, data, 0.3, steps)
        assert torch.allclose(loss, ref_loss, atol=1e-12)
        for a, b in zip(grads, ref):
            assert torch.allclose(a, b, atol=1e-10, rtol=1e-8), (a - b).abs().max()


def test_first_order_equals_detached_inner_gradient():
    data = _data()
    learner = MetaLearner(_model(), inner_lr=0.3, first_order=True)
    _, grads = _ours(learner, data, 2)
    _, ref = _hand_meta_grad(learner.model, data, 0.3, 2, first_order=True)
    for a, b in zip(grads, ref):
        assert torch.allclose(a, b, atol=1e-10)
    # and it differs from the second-order gradient (the test would pass vacuously otherwise)
    _, so = _hand_meta_grad(learner.model, data, 0.3, 2)
    assert max((a - b).abs().max().item() for a, b in zip(grads, so)) > 1e-4


def test_meta_sgd_gradients_wrt_inner_lrs_match_autograd():
    data = _data()
    learner = MetaLearner(_model(), inner_lr=0.2, meta_sgd=True)
    with torch.no_grad():  # distinct per-entry lrs so a mix-up between entries would show
        for p in learner.lrs.values():
            p.add_(0.05 * torch.rand_like(p))
    _, grads = _ours(learner, data, 2)
    lrs = [learner.lrs[n.replace(".", "__")] for n in learner.adapt_names]
    _, ref = _hand_meta_grad(learner.model, data, None, 2, lrs=lrs)
    assert len(grads) == len(ref) == 12
    for a, b in zip(grads, ref):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-8)


def test_anil_adapts_only_the_head():
    data = _data()
    learner = MetaLearner(_model(), inner_lr=0.3, adapt="head")
    assert learner.adapt_names == head_names(learner.model) == ["4.weight", "4.bias"]
    adapted = learner.adapt_params(mse, data[0][0], data[1][0], steps=3)
    for n, p in learner.params().items():
        moved = not torch.equal(adapted[n], p)
        assert moved == (n in ("4.weight", "4.bias")), n
    _, grads = _ours(learner, data, 1)
    _, ref = _hand_meta_grad(learner.model, data, 0.3, 1, adapt_idx=[4, 5])
    for a, b in zip(grads, ref):  # the body is still meta-trained, through the head's adaptation
        assert torch.allclose(a, b, atol=1e-10)


def test_vmap_equals_per_task_loop():
    data = _data(m=6)
    for kw in ({}, {"meta_sgd": True}, {"adapt": "head"}, {"first_order": True}):
        a, b = MetaLearner(_model(), 0.3, **kw), MetaLearner(_model(), 0.3, **kw)
        la, ga = _ours(a, data, 2, vectorize=True)
        lb, gb = _ours(b, data, 2, vectorize=False)
        assert torch.allclose(la, lb, atol=1e-12)
        for x, y in zip(ga, gb):
            assert torch.allclose(x, y, atol=1e-12)


def test_clone_adapt_interface_matches_functional_core():
    data = _data(m=3)
    for kw in ({}, {"meta_sgd": True}, {"adapt": "head"}):
        a, b = MetaLearner(_model(), 0.3, **kw), MetaLearner(_model(), 0.3, **kw)
        _, ga = _ours(a, data, 2)
        xs, ys, xq, yq = data
        total = 0.0
        for i in range(xs.shape[0]):
            learner = b.clone()
            for _ in range(2):
                learner.adapt(mse(learner(xs[i]), ys[i]))
            total = total + mse(learner(xq[i]), yq[i])
        (total / xs.shape[0]).backward()
        gb = [p.grad for p in b.model.parameters()]
        if b.meta_sgd:
            gb += [b.lrs[n.replace(".", "__")].grad for n in b.adapt_names]
        for x, y in zip(ga, gb):
            assert torch.allclose(x, y, atol=1e-10)


def test_sine_tasks_follow_the_spec():
    b = sample_sine_tasks(2000, 5, 5, torch.Generator().manual_seed(0))
    assert b.xs.shape == (2000, 5, 1) and b.yq.shape == (2000, 5, 1)
    assert b.amplitude.min() >= 0.1 and b.amplitude.max() <= 5.0
    assert b.phase.min() >= 0.0 and b.phase.max() <= torch.pi
    assert b.xs.min() >= -5 and b.xs.max() <= 5
    y = b.amplitude[:, None, None] * torch.sin(b.xs - b.phase[:, None, None])
    assert torch.allclose(y, b.ys)


def test_short_sine_run_adapts():
    """300 meta-updates are enough for one inner step to beat no adaptation on held-out tasks
    (paired over the same 300 tasks: the mean per-task gain exceeds 3 standard errors)."""
    torch.set_default_dtype(torch.float32)  # the float64 fixture restores the caller's dtype afterwards
    cfg = SineConfig(meta_iterations=300, k_shot=10, seed=0)
    t = SineTrainer(cfg)
    for _ in range(cfg.meta_iterations):
        t.iteration()
    b = sample_sine_tasks(300, 10, 50, torch.Generator().manual_seed(99))
    per_task = t.learner.evaluate(mse, *b[:4], steps=(0, 1, 10))
    gain1, gain10 = per_task[0] - per_task[1], per_task[1] - per_task[10]
    assert gain1.mean() > 3 * gain1.std() / 300**0.5, per_task[0].mean() - per_task[1].mean()
    assert gain10.mean() > 0
