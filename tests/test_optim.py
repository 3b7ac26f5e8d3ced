import os

import pytest
import torch

from rlmeta.core.optim import FlatAdam, adam_step


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def test_flat_adam_equals_torch_adam_with_grad_clipping():
    a, b = _net(), _net()
    ref = torch.optim.Adam(a.parameters(), lr=1e-2, eps=1e-5)
    flat = FlatAdam(b.parameters(), lr=1e-2, eps=1e-5)
    torch.manual_seed(1)
    for _ in range(20):
        x, y = torch.randn(16, 5) * 3, torch.randn(16, 2)
        ref.zero_grad()
        ((a(x) - y) ** 2).mean().backward()
        torch.nn.utils.clip_grad_norm_(a.parameters(), 0.5)
        ref.step()
        flat.minimize(((b(x) - y) ** 2).mean(), max_grad_norm=0.5)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_flat_adam_state_roundtrip_and_module_load():
    net = _net()
    opt = FlatAdam(net.parameters(), lr=1e-3)
    opt.minimize(net(torch.randn(4, 5)).sum())
    sd, msd = opt.state_dict(), {k: v.clone() for k, v in net.state_dict().items()}
    net2 = _net()
    opt2 = FlatAdam(net2.parameters(), lr=1e-3)
    net2.load_state_dict(msd)  # copies into the flat buffer's views
    opt2.load_state_dict(sd)
    x = torch.randn(4, 5)
    opt.minimize(net(x).sum())
    opt2.minimize(net2(x).sum())
    assert torch.equal(opt.flat, opt2.flat)


def test_capturable_flat_adam_equals_default_and_scales_lr():
    """capturable=True (step count and lr as device tensors, for CUDA graphs) takes the same steps as
    the default mode to float32 rounding of the bias corrections; scale_lr clamps by hand-computed values."""
    a, b = _net(), _net()
    ref = FlatAdam(a.parameters(), lr=1e-2, eps=1e-5)
    cap = FlatAdam(b.parameters(), lr=1e-2, eps=1e-5, capturable=True)
    assert isinstance(cap.lr, torch.Tensor) and cap.lr.dim() == 0
    torch.manual_seed(1)
    for _ in range(30):
        x, y = torch.randn(16, 5) * 3, torch.randn(16, 2)
        ref.minimize(((a(x) - y) ** 2).mean(), max_grad_norm=0.5)
        cap.minimize(((b(x) - y) ** 2).mean(), max_grad_norm=0.5)
    torch.testing.assert_close(cap.flat, ref.flat, rtol=1e-5, atol=1e-6)
    assert cap.t == ref.t == 30
    # lr: set in place (a captured graph keeps reading the same tensor), scaled and clamped
    lr_tensor = cap.lr
    cap.lr = 4e-3
    assert cap.lr is lr_tensor and float(cap.lr) == torch.tensor(4e-3).item()
    cap.scale_lr(torch.tensor(1 / 1.5), 1e-5, 1e-2)
    ref.lr = 4e-3
    ref.scale_lr(torch.tensor(1 / 1.5), 1e-5, 1e-2)
    assert float(cap.lr) == pytest.approx(4e-3 / 1.5, rel=1e-6) and ref.lr == pytest.approx(4e-3 / 1.5)
    cap.scale_lr(torch.tensor(1e6), 1e-5, 1e-2)
    assert float(cap.lr) == torch.tensor(1e-2).item()
    # state dicts are interchangeable between the two modes
    sd = cap.state_dict()
    assert sd["t"] == 30 and isinstance(sd["lr"], float)
    ref.load_state_dict(sd)
    assert ref.t == 30 and ref.lr == sd["lr"]


def test_functional_adam_step_is_flat_adam_bitwise():
    """adam_step (the vmapped off-policy executor's Adam: pure, t and lr as float64 tensors) takes the
    default FlatAdam's steps bit for bit, for gradients from 1e-8 to 10 (where the float32 bias
    corrections of the capturable mode would differ), and under vmap row by row."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(1000))
    opt = FlatAdam([w], lr=1e-3)
    p, m, v = opt.flat.clone(), opt.m.clone(), opt.v.clone()
    t, lr = torch.zeros((), dtype=torch.float64), torch.tensor(1e-3, dtype=torch.float64)
    for _ in range(20):
        g = torch.randn(1000) * 10.0 ** torch.randint(-8, 2, (1000,)).float()
        opt.grad.copy_(g)
        opt.step()
        t = t + 1
        p, m, v = adam_step(p, g, m, v, t, lr)
        assert torch.equal(p, opt.flat) and torch.equal(m, opt.m) and torch.equal(v, opt.v)
    rows = torch.func.vmap(lambda p, g, m, v: adam_step(p, g, m, v, t + 1, lr))(
        *(x.expand(2, 1000) for x in (p, g, m, v))
    )
    for got, want in zip(rows, adam_step(p, g, m, v, t + 1, lr)):
        assert torch.equal(got[0], want) and torch.equal(got[1], want)


def test_gradients_steps_are_bitwise_separate_minimize_calls():
    """Gradients (eager): one backward of the summed losses of two disjoint networks, then each
    optimizer's own clipped step (different learning rates and clip norms' effects) == two separate
    minimize calls, bitwise."""
    from rlmeta.core.optim import Gradients

    def build():
        torch.manual_seed(0)
        a = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        c = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        return a, c, FlatAdam(a.parameters(), lr=1e-2, eps=1e-5), FlatAdam(c.parameters(), lr=3e-3, eps=1e-5)

    a1, c1, oa1, oc1 = build()
    a2, c2, oa2, oc2 = build()

    def losses(x, y, both):
        return [0.5 * c2(x).pow(2).mean()] + ([((a2(x) - y) ** 2).mean()] if both else []), {}

    grads = Gradients(losses, torch.nn.ModuleDict({"a": a2, "c": c2}), [oc2, oa2])
    torch.manual_seed(1)
    for i in range(25):
        x, y = torch.randn(16, 5) * 3, torch.randn(16, 2)
        both = i % 3 != 0  # sometimes only the critic steps (PPO's KL early stop)
        if both:
            oa1.minimize(((a1(x) - y) ** 2).mean(), 0.5)
        oc1.minimize(0.5 * c1(x).pow(2).mean(), 0.5)
        grads(x, y, both)
        grads.step([oc2, oa2] if both else [oc2], 0.5)
    assert torch.equal(oa1.flat, oa2.flat) and torch.equal(oc1.flat, oc2.flat)
    assert torch.equal(oc1.m, oc2.m) and torch.equal(oc1.v, oc2.v)


def test_gradients_compiled_equal_autograd_for_each_instance():
    """Gradients(compile=True) (torch.func.grad through torch.compile over the flat buffers) fills the
    same .grad as autograd, for two networks under two optimizers and for a second instance built
    later in the same process (which may reuse the compiled graph: its parameters are inputs)."""
    import pytest

    from rlmeta.core.optim import Gradients

    pytest.importorskip("torch._dynamo")
    for seed in (0, 1):
        torch.manual_seed(seed)
        a = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        c = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        oa, oc = FlatAdam(a.parameters(), lr=1e-2, capturable=True), FlatAdam(c.parameters(), lr=1e-3, capturable=True)
        root = torch.nn.ModuleDict({"a": a, "c": c})

        def losses(x, y):  # used within this iteration only
            la = ((a(x) - y) ** 2).mean()  # noqa: B023
            return [la, c(x).pow(2).mean()], {"la": la.detach()}  # noqa: B023

        x, y = torch.randn(16, 5), torch.randn(16, 2)
        eager = Gradients(losses, root, [oa, oc])
        m_eager = eager(x, y)
        ref = [oa.grad.clone(), oc.grad.clone()]
        compiled = Gradients(losses, root, [oa, oc], compile=True)
        m = compiled(x, y)
        if not compiled._compiled.ok:
            pytest.skip("torch.compile failed here (it fell back to autograd)")
        torch.testing.assert_close(oa.grad, ref[0], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(oc.grad, ref[1], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(m["la"], m_eager["la"])
        assert ref[0].abs().sum() > 0 and ref[1].abs().sum() > 0
        # the compiled optimiser steps equal the eager ones
        before = [oa.flat.clone(), oc.flat.clone()]
        compiled.step([oa, oc], 0.5)
        after = [oa.flat.clone(), oc.flat.clone()]
        oa.flat.copy_(before[0]), oc.flat.copy_(before[1])
        for o in (oa, oc):
            o.m.zero_(), o.v.zero_(), o._t.zero_()
        oa.grad.copy_(ref[0]), oc.grad.copy_(ref[1])
        eager.step([oa, oc], 0.5)
        torch.testing.assert_close(after[0], oa.flat, rtol=1e-6, atol=1e-8)
        torch.testing.assert_close(after[1], oc.flat, rtol=1e-6, atol=1e-8)


def test_set_torch_threads_keeps_adam_moments_out_of_the_subnormal_range():
    # a parameter whose gradient is exactly zero (a dead ReLU unit) has its first moment decay by
    # beta1 per step; with denormals flushed it jumps from the smallest normal float to 0 instead of
    # lingering ~150 steps in the slow subnormal range (rlmeta.core.seeding.set_torch_threads)
    from rlmeta.core.seeding import set_torch_threads

    set_torch_threads(torch.get_num_threads())
    tiny = torch.finfo(torch.float32).tiny  # 1.18e-38, the smallest normal float32
    assert float(torch.tensor([tiny]) * 0.5) == 0.0  # FTZ: a subnormal result is 0
    p = torch.nn.Parameter(torch.ones(4))
    opt = FlatAdam([p], lr=1e-3)
    opt.grad.fill_(1.0)
    opt.step()
    seen_normal_small = False
    for _ in range(1000):
        opt.zero_grad()
        opt.step()
        m = opt.m.abs()
        assert not bool(((m > 0) & (m < tiny)).any())  # never subnormal
        seen_normal_small |= bool(((m > 0) & (m < 1e-37)).any())
    assert seen_normal_small and float(opt.m.abs().max()) == 0.0  # it got down to the edge, then 0


def test_torch_threads_zero_means_auto_and_negative_is_refused():
    from rlmeta.agents.offpolicy.base import OffPolicyConfig
    from rlmeta.core.errors import ConfigError
    from rlmeta.core.seeding import auto_threads, set_torch_threads

    before = torch.get_num_threads()
    try:
        set_torch_threads(0)
        assert torch.get_num_threads() == auto_threads() == min(2, len(os.sched_getaffinity(0)))
        set_torch_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert OffPolicyConfig().torch_threads == 0  # off-policy agents default to auto
    with pytest.raises(ConfigError, match="torch-threads"):
        OffPolicyConfig(env="Hopper-v5", torch_threads=-1).validate()
