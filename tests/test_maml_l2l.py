"""rlmeta's MAML meta-gradients against learn2learn's, an independent implementation (float64).

learn2learn clones the module and writes p - lr * g back into the copy's `_parameters`
(`l2l.algorithms.MAML` / `MetaSGD`), one task at a time; rlmeta's MetaLearner runs the inner loop
functionally (torch.func.grad, vmapped over tasks). Same model, weights and tasks on both sides, so
the meta-losses and every meta-gradient must agree to rounding: second and first order, several
inner steps, Meta-SGD's learned learning rates, ANIL (learn2learn's recipe: MAML around the head
only), the meta-RL post-update surrogate, and tasks drawn by learn2learn's own Taskset.

learn2learn comes from the `meta` extra (scripts/install_learn2learn.sh builds it on Python >= 3.11).
"""

from __future__ import annotations

import copy
import sys

import pytest
import torch
from torch import nn

from rlmeta.agents.maml.core import MetaLearner
from rlmeta.agents.maml.l2l import taskset_batch
from rlmeta.agents.maml.rl import StepBatch, outer_terms
from rlmeta.agents.maml.sine import mse, sample_sine_tasks
from rlmeta.core.distributions import gaussian_log_prob
from rlmeta.core.networks import GaussianActor, mlp

l2l = pytest.importorskip("learn2learn", reason="learn2learn: bash scripts/install_learn2learn.sh (extra `meta`)")

torch.set_num_threads(1)  # tiny float64 problems; a second thread only contends on the shared CPU
TOL = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture(autouse=True)
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _sine(m=4, k=5, seed=1):
    b = sample_sine_tasks(m, k, 7, torch.Generator().manual_seed(seed), dtype=torch.float64)
    return b.xs, b.ys, b.xq, b.yq  # [M, K, 1] ...


def _grads(module: nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(module.parameters())))


def _l2l_meta_loss(algo: nn.Module, loss_fn, xs, ys, xq, yq, steps: int) -> torch.Tensor:
    """learn2learn's training loop (its examples' fast_adapt): clone, adapt on the support set, query loss."""
    total = 0.0
    for i in range(xs.shape[0]):
        learner = algo.clone()
        for _ in range(steps):
            learner.adapt(loss_fn(learner(xs[i]), ys[i]))
        total = total + loss_fn(learner(xq[i]), yq[i])
    return total / xs.shape[0]


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("first_order", [False, True])
def test_maml_meta_gradient_equals_learn2learn(first_order, steps):
    torch.manual_seed(0)
    model = mlp([1, 16, 16, 1], "tanh").double()
    ours = MetaLearner(model, inner_lr=0.05, first_order=first_order)
    theirs = l2l.algorithms.MAML(copy.deepcopy(model), lr=0.05, first_order=first_order)
    data = _sine()

    loss = ours.meta_loss(mse, *data, steps=steps)  # vmapped over the 4 tasks
    ref = _l2l_meta_loss(theirs, mse, *data, steps=steps)
    torch.testing.assert_close(loss, ref, **TOL)
    g_ours, g_ref = _grads(ours, loss), _grads(theirs, ref)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b, **TOL)

    # rlmeta's learn2learn-style interface: the very same loop as learn2learn's, on a MetaLearner.
    g_clone = _grads(ours, _l2l_meta_loss(ours, mse, *data, steps=steps))
    for a, b in zip(g_clone, g_ref, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_first_and_second_order_differ():
    """The comparisons above would be weak if the Hessian term vanished on this problem."""
    torch.manual_seed(0)
    model = mlp([1, 16, 16, 1], "tanh").double()
    g = {
        fo: torch.cat(
            [
                t.flatten()
                for t in _grads(model, MetaLearner(model, 0.05, first_order=fo).meta_loss(mse, *_sine(), steps=1))
            ]
        )
        for fo in (False, True)
    }
    assert (g[False] - g[True]).abs().max() > 1e-4


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_sgd_gradients_equal_learn2learn(first_order):
    """Meta-SGD: the learned per-parameter learning rates get the same gradient as learn2learn's `lrs`."""
    torch.manual_seed(1)
    model = mlp([1, 8, 8, 1], "tanh").double()
    ours = MetaLearner(model, inner_lr=0.03, first_order=first_order, meta_sgd=True)
    theirs = l2l.algorithms.MetaSGD(copy.deepcopy(model), lr=0.03, first_order=first_order)
    data = _sine(m=3, seed=2)
    loss = ours.meta_loss(mse, *data, steps=2)
    ref = _l2l_meta_loss(theirs, mse, *data, steps=2)
    torch.testing.assert_close(loss, ref, **TOL)
    # both yield the model's weights, then one lr tensor per weight in the same order
    for a, b in zip(_grads(ours, loss), _grads(theirs, ref), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_anil_equals_learn2learn_head_only_maml():
    """ANIL as learn2learn's example writes it: a shared body, MAML around the head alone."""
    torch.manual_seed(2)
    model = mlp([1, 16, 16, 1], "tanh").double()
    ours = MetaLearner(model, inner_lr=0.1, adapt="head")
    body, head = copy.deepcopy(model[:-1]), l2l.algorithms.MAML(copy.deepcopy(model[-1]), lr=0.1)
    xs, ys, xq, yq = _sine(seed=3)
    loss = ours.meta_loss(mse, xs, ys, xq, yq, steps=2)
    ref = _l2l_meta_loss(head, mse, body(xs), ys, body(xq), yq, steps=2)
    torch.testing.assert_close(loss, ref, **TOL)
    g_ref = torch.autograd.grad(ref, [*body.parameters(), *head.parameters()])
    for a, b in zip(_grads(ours, loss), g_ref, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def _step_batch(m: int, n: int, actor: GaussianActor, seed: int) -> StepBatch:
    """One inner step's data per task ([M, N, ...]), on-policy for `actor` (old log-probs are its own)."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(m, n, 3, generator=g)
    with torch.no_grad():
        mean, log_std = actor(obs)
    act = mean + torch.randn(mean.shape, generator=g) * log_std.exp()
    mask = torch.ones(m, n)
    mask[0, n // 2 :] = 0  # one task's episode ended half way
    adv = torch.randn(m, n, generator=g) * mask
    return StepBatch(obs, act, gaussian_log_prob(act, mean, log_std), mean, log_std, adv, mask)


def _pg_loss(actor_out, b: StepBatch, kind: str) -> torch.Tensor:
    """The policy-gradient surrogate of one task from the policy's (mean, log_std), written again here."""
    logp = gaussian_log_prob(b.act, *actor_out)
    obj = torch.exp(logp - b.logp) if kind == "ratio" else logp
    return -(obj * b.adv * b.mask).sum() / b.mask.sum()


@pytest.mark.parametrize("kind", ["ratio", "logprob"])
def test_meta_rl_surrogate_gradient_equals_learn2learn(kind):
    """Meta-RL (agents/maml/rl.py): the post-update surrogate after 2 inner policy-gradient steps, its
    gradient through the adaptation, against learn2learn's MAML adapting the same GaussianActor."""
    torch.manual_seed(3)
    actor = GaussianActor(3, 2, [16, 16], "tanh", log_std_init=-0.5).double()
    ours = MetaLearner(actor, inner_lr=0.1)
    theirs = l2l.algorithms.MAML(copy.deepcopy(actor), lr=0.1)
    batches = tuple(_step_batch(3, 10, actor, seed) for seed in range(3))  # D_0, D_1 adapt; D_2 is post-update

    surr = torch.func.vmap(lambda p, bs: outer_terms(ours, p, bs, kind, 0.2)[0], in_dims=(None, 0))(
        ours.params(), batches
    )  # [M]
    total = 0.0
    for i in range(3):
        task = [StepBatch(*(t[i] for t in b)) for b in batches]
        learner = theirs.clone()
        for b in task[:-1]:
            learner.adapt(_pg_loss(learner(b.obs), b, kind))
        total = total + _pg_loss(learner(task[-1].obs), task[-1], "ratio")
    ref = total / 3
    torch.testing.assert_close(surr.mean(), ref, **TOL)
    for a, b in zip(_grads(ours, surr.mean()), _grads(theirs, ref), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_learn2learn_taskset_through_the_adapter():
    """Few-shot classification tasks drawn by learn2learn's own Taskset (NWays / KShots / LoadData),
    split by rlmeta.agents.maml.l2l.taskset_batch, give the same meta-gradient as learn2learn's MAML on
    learn2learn's split of the same tasks."""
    g = torch.Generator().manual_seed(4)
    labels = torch.arange(8).repeat_interleave(10)  # 8 classes x 10 samples
    data = torch.randn(80, 4, generator=g) + 2 * torch.nn.functional.one_hot(labels % 4, 4)
    dataset = l2l.data.MetaDataset(torch.utils.data.TensorDataset(data, labels))
    ways, shots = 3, 2
    taskset = l2l.data.Taskset(
        dataset,
        num_tasks=-1,
        task_transforms=[
            l2l.data.transforms.NWays(dataset, ways),
            l2l.data.transforms.KShots(dataset, 2 * shots),
            l2l.data.transforms.LoadData(dataset),
            l2l.data.transforms.RemapLabels(dataset),
        ],
    )

    class Recorded:  # hand both sides the same draws
        def __init__(self):
            self.tasks = []

        def sample(self):
            self.tasks.append(taskset.sample())
            return self.tasks[-1]

    rec = Recorded()
    xs, ys, xq, yq = taskset_batch(rec, meta_batch=4)  # [4, ways * shots, 4] ...
    assert xs.shape == (4, ways * shots, 4) and torch.equal(ys.sort(1).values, yq.sort(1).values)

    torch.manual_seed(5)
    model = mlp([4, 16, ways], "tanh").double()
    ours = MetaLearner(model, inner_lr=0.5)
    theirs = l2l.algorithms.MAML(copy.deepcopy(model), lr=0.5)
    ce = nn.functional.cross_entropy
    loss = ours.meta_loss(ce, xs, ys, xq, yq, steps=1)
    total = 0.0
    for d, y in rec.tasks:  # learn2learn's examples: even positions adapt, odd positions evaluate
        adapt_idx = torch.zeros(d.shape[0], dtype=torch.bool)
        adapt_idx[torch.arange(ways * shots) * 2] = True
        learner = theirs.clone()
        learner.adapt(ce(learner(d[adapt_idx]), y[adapt_idx]))
        total = total + ce(learner(d[~adapt_idx]), y[~adapt_idx])
    ref = total / len(rec.tasks)
    torch.testing.assert_close(loss, ref, **TOL)
    for a, b in zip(_grads(ours, loss), _grads(theirs, ref), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_vision_without_torchvision_is_one_config_error(monkeypatch):
    """learn2learn.vision is imported on first use (scripts/learn2learn-0.2.0.patch); without a usable
    torchvision get_tasksets says so in one ConfigError instead of failing at `import learn2learn`."""
    from rlmeta.agents.maml.l2l import get_tasksets
    from rlmeta.core.errors import ConfigError

    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    for name in [m for m in sys.modules if m.startswith("learn2learn.vision")]:  # imported earlier, if at all
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(vars(l2l), "vision", raising=False)  # (getattr would import it)
    with pytest.raises(ConfigError, match="torchvision built for torch"):
        get_tasksets("omniglot")
