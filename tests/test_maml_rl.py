"""MAML meta-RL: returns/baseline/advantages by hand, the inner policy-gradient step and the meta-gradient
against per-task autograd loops, the Fisher-vector product through the adaptation against an explicit
Hessian, the TRPO trust region, and a CLI run with bitwise resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlmeta.agents.maml.core import MetaLearner
from rlmeta.agents.maml.rl import (
    MetaRLConfig,
    MetaRLTrainer,
    Rollouts,
    StepBatch,
    adapt,
    baseline_features,
    discounted_cumsum,
    fit_linear_baseline,
    outer_terms,
    process_rollouts,
    sample_rollouts,
)
from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.distributions import gaussian_log_prob
from rlmeta.core.natural_gradient import fisher_vector_product
from rlmeta.core.networks import GaussianActor
from rlmeta.envs.meta import make_meta_env

torch.set_num_threads(1)


def _rollouts(m=3, r=2, h=6, obs_dim=2, act_dim=2, seed=0, terminate=True) -> Rollouts:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(m, r, h, obs_dim, generator=g, dtype=torch.float64)
    mask = torch.ones(m, r, h, dtype=torch.float64)
    if terminate:
        mask[0, 1, 4:] = 0  # one episode ends after 4 steps
    mean = torch.randn(m, r, h, act_dim, generator=g, dtype=torch.float64)
    log_std = torch.full((m, r, h, act_dim), -0.3, dtype=torch.float64)
    act = mean + torch.randn(m, r, h, act_dim, generator=g, dtype=torch.float64) * log_std.exp()
    reward = torch.randn(m, r, h, generator=g, dtype=torch.float64) * mask
    return Rollouts(obs, act, reward, gaussian_log_prob(act, mean, log_std), mean, log_std, mask)


def test_discounted_cumsum_by_hand():
    x = torch.randn(4, 7, dtype=torch.float64)
    ref = torch.zeros_like(x)
    acc = torch.zeros(4, dtype=torch.float64)
    for t in reversed(range(7)):
        acc = x[:, t] + 0.9 * acc
        ref[:, t] = acc
    assert torch.allclose(discounted_cumsum(x, 0.9), ref, atol=1e-12)


def test_linear_baseline_and_advantages_by_hand():
    r = _rollouts()
    m, n_roll, h = r.reward.shape
    gamma = 0.95
    b = process_rollouts(r, gamma, 1.0, 1e-5, norm_adv=False)
    for i in range(m):  # rllab's LinearFeatureBaseline, one task at a time, paths of their real length
        feats, rets, lengths = [], [], []
        for j in range(n_roll):
            n = int(r.mask[i, j].sum())
            o = np.clip(r.obs[i, j, :n].numpy(), -10, 10)
            t = np.arange(n).reshape(-1, 1) / 100.0
            feats.append(np.concatenate([o, o**2, t, t**2, t**3, np.ones((n, 1))], axis=1))
            rew = r.reward[i, j, :n].numpy()
            rets.append(np.array([sum(gamma ** (k - s) * rew[k] for k in range(s, n)) for s in range(n)]))
            lengths.append(n)
        fm, tg = np.concatenate(feats), np.concatenate(rets)
        coef = np.linalg.lstsq(fm.T @ fm + 1e-5 * np.eye(fm.shape[1]), fm.T @ tg, rcond=-1)[0]
        adv = b.adv[i].reshape(n_roll, h)
        for j in range(n_roll):  # lambda = 1: advantage = return - baseline; zero after termination
            n = lengths[j]
            np.testing.assert_allclose(adv[j, :n].numpy(), rets[j] - feats[j] @ coef, atol=1e-4)
            assert (adv[j, n:] == 0).all()
    bn = process_rollouts(r, gamma, 1.0, 1e-5, norm_adv=True)
    for i in range(m):  # normalised per task over its valid steps
        valid = bn.adv[i][bn.mask[i] > 0].double()
        assert abs(valid.mean().item()) < 1e-5 and abs(valid.std(unbiased=False).item() - 1) < 1e-4


def test_gae_lambda_below_one_matches_recursion():
    r = _rollouts(terminate=False)
    feats = baseline_features(r.obs)
    m, n_roll, h = r.reward.shape
    returns = discounted_cumsum(r.reward, 0.99)
    coef = fit_linear_baseline(feats.reshape(m, -1, feats.shape[-1]), returns.reshape(m, -1), r.mask.reshape(m, -1))
    v = (feats @ coef[:, None, :, None])[..., 0]
    b = process_rollouts(r, 0.99, 0.9, 1e-5, norm_adv=False)
    ref = torch.zeros_like(v)
    last = torch.zeros(m, n_roll, dtype=torch.float64)
    for t in reversed(range(h)):
        nv = v[..., t + 1] if t + 1 < h else torch.zeros_like(last)
        last = r.reward[..., t] + 0.99 * nv - v[..., t] + 0.99 * 0.9 * last
        ref[..., t] = last
    assert torch.allclose(b.adv.double(), ref.reshape(m, -1), atol=1e-4)


def _learner(**kw) -> MetaLearner:
    torch.manual_seed(0)
    actor = GaussianActor(2, 2, (5,), "tanh", log_std_init=-0.3).double()
    return MetaLearner(actor, inner_lr=kw.pop("inner_lr", 0.3), **kw)


def _batches(learner: MetaLearner, k: int, m=3):
    """k + 1 StepBatches whose old log-probs/means are those of the learner itself (on-policy data)."""
    out = []
    for s in range(k + 1):
        r = _rollouts(m=m, seed=s, terminate=s == 0)
        with torch.no_grad():
            mean, log_std = learner(r.obs)
        act = r.act
        r = r._replace(mean=mean, log_std=log_std, logp=gaussian_log_prob(act, mean, log_std))
        b = process_rollouts(r, 0.99, 1.0, 1e-5, norm_adv=True)
        out.append(StepBatch(*(t.double() for t in b)))
    return out


def _actor_fwd(p, obs):
    """The GaussianActor written out by hand: mu = W2 tanh(W1 o + b1) + b2, log_std broadcast."""
    h = torch.tanh(obs @ p["mu.0.weight"].T + p["mu.0.bias"])
    mean = h @ p["mu.2.weight"].T + p["mu.2.bias"]
    return mean, p["log_std"].expand_as(mean)


def _hand_adapt(learner, b_list, i, kind, create_graph=True, lr=0.3):
    """Per-task inner steps with torch.autograd.grad(create_graph=True) on the hand-written actor."""
    names = [n for n, _ in learner.model.named_parameters()]
    p = dict(learner.model.named_parameters())
    for b in b_list:
        mean, log_std = _actor_fwd(p, b.obs[i])
        logp = gaussian_log_prob(b.act[i], mean, log_std)
        obj = torch.exp(logp - b.logp[i]) if kind == "ratio" else logp
        loss = -(obj * b.adv[i] * b.mask[i]).sum() / b.mask[i].sum()
        g = torch.autograd.grad(loss, [p[n] for n in names], create_graph=create_graph)
        p = {n: p[n] - lr * gi for n, gi in zip(names, g)}
    return p


def test_inner_step_is_the_policy_gradient_step():
    learner = _learner()
    batches = _batches(learner, 0)
    for kind in ("ratio", "logprob"):  # identical first step: the ratio's gradient at pi = pi_old is grad log pi
        for i in range(3):
            task = StepBatch(*(t[i] for t in batches[0]))
            ours, _ = adapt(learner, learner.params(), [task], kind)
            ref = _hand_adapt(learner, batches, i, kind, create_graph=False)
            for n in ref:
                assert torch.allclose(ours[n], ref[n], atol=1e-12), (kind, n)


@pytest.mark.parametrize("kind", ["ratio", "logprob"])
def test_meta_gradient_matches_autograd_loop(kind):
    """Post-update surrogate after 2 inner steps: vmapped torch.func == per-task autograd.grad loop (1e-10)."""
    learner = _learner()
    batches = _batches(learner, 2)
    surr, _, _, _ = torch.func.vmap(lambda p, bs: outer_terms(learner, p, bs, kind, 0.2), in_dims=(None, 0))(
        learner.params(), tuple(batches)
    )
    ours = torch.autograd.grad(surr.mean(), list(learner.model.parameters()))
    total = 0.0
    for i in range(3):
        p = _hand_adapt(learner, batches[:2], i, kind)
        b = batches[2]
        mean, log_std = _actor_fwd(p, b.obs[i])
        ratio = torch.exp(gaussian_log_prob(b.act[i], mean, log_std) - b.logp[i])
        total = total + -(ratio * b.adv[i] * b.mask[i]).sum() / b.mask[i].sum()
    ref = torch.autograd.grad(total / 3, list(learner.model.parameters()))
    for a, r in zip(ours, ref):
        assert torch.allclose(a, r, atol=1e-10), (a - r).abs().max()


def test_ratio_and_logprob_meta_gradients_differ():
    """Same first-order step, different Hessian: the meta-gradients must differ (else the option is void)."""
    learner = _learner()
    batches = _batches(learner, 1)
    grads = {}
    for kind in ("ratio", "logprob"):
        surr = torch.func.vmap(lambda p, bs, kind=kind: outer_terms(learner, p, bs, kind, 0.2)[0], in_dims=(None, 0))(
            learner.params(), tuple(batches)
        )
        grads[kind] = torch.cat([g.flatten() for g in torch.autograd.grad(surr.mean(), list(learner.parameters()))])
    assert (grads["ratio"] - grads["logprob"]).abs().max() > 1e-6


def test_first_order_meta_gradient_is_the_detached_version():
    learner = _learner(first_order=True)
    batches = _batches(learner, 1)
    surr = torch.func.vmap(lambda p, bs: outer_terms(learner, p, bs, "ratio", 0.2)[0], in_dims=(None, 0))(
        learner.params(), tuple(batches)
    )
    ours = torch.autograd.grad(surr.mean(), list(learner.model.parameters()))
    total = 0.0
    for i in range(3):
        p = _hand_adapt(learner, batches[:1], i, "ratio", create_graph=False)  # grads are constants
        b = batches[1]
        mean, log_std = _actor_fwd(p, b.obs[i])
        ratio = torch.exp(gaussian_log_prob(b.act[i], mean, log_std) - b.logp[i])
        total = total + -(ratio * b.adv[i] * b.mask[i]).sum() / b.mask[i].sum()
    ref = torch.autograd.grad(total / 3, list(learner.model.parameters()))
    for a, r in zip(ours, ref):
        assert torch.allclose(a, r, atol=1e-10)


def test_fisher_vector_product_through_adaptation_equals_hessian():
    """MAML-TRPO's constraint is the KL of the *adapted* policies; its FVP (third-order autograd through
    vmap(grad)) must equal the explicit Hessian of that KL w.r.t. the flat meta-parameters."""
    learner = _learner()
    batches = _batches(learner, 1)
    # data from a slightly different policy so the KL's Hessian is not degenerate at the evaluation point
    batches[1] = batches[1]._replace(mean=batches[1].mean + 0.05)
    names = [n for n, _ in learner.model.named_parameters()]
    shapes = [p.shape for p in learner.model.parameters()]
    flat0 = torch.cat([p.detach().flatten() for p in learner.model.parameters()])

    def kl_of(flat):
        p, i = {}, 0
        for n, s in zip(names, shapes):
            p[n] = flat[i : i + s.numel()].view(s)
            i += s.numel()
        return torch.func.vmap(lambda q, bs: outer_terms(learner, q, bs, "ratio", 0.2)[2], in_dims=(None, 0))(
            p, tuple(batches)
        ).mean()

    hess = torch.autograd.functional.hessian(kl_of, flat0)  # [P, P]

    def kl_fn():
        per_task = torch.func.vmap(lambda q, bs: outer_terms(learner, q, bs, "ratio", 0.2)[2], in_dims=(None, 0))
        return per_task(learner.params(), tuple(batches)).mean()

    fvp = fisher_vector_product(kl_fn, list(learner.model.parameters()), damping=0.0)
    v = torch.randn(flat0.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(fvp(v), hess @ v, atol=1e-10)


def test_sampler_runs_each_task_with_its_own_parameters():
    env = make_meta_env("point", num_envs=6)
    learner = MetaLearner(GaussianActor(2, 2, (8,), "tanh"), 0.1)
    base = {k: v.detach() for k, v in learner.params().items()}
    params = {k: torch.stack([v + 0.1 * i for i in range(3)]) for k, v in base.items()}  # 3 different policies
    tasks = np.array([[0.1, 0.2], [-0.3, 0.0], [0.4, -0.4]])
    r = sample_rollouts(env, learner, params, True, tasks, rollouts=2, horizon=5, seed=0)
    assert r.obs.shape == (3, 2, 5, 2) and np.array_equal(env.get_task(), np.repeat(tasks, 2, 0))
    for i in range(3):
        mean, _ = learner(r.obs[i], {k: v[i] for k, v in params.items()})
        assert torch.allclose(mean, r.mean[i], atol=1e-6)
    # the rewards are the point env's -||pos - goal|| of task m, pos = clipped cumulative actions
    pos = np.cumsum(np.clip(r.act.numpy(), -0.1, 0.1), axis=2)
    expected = -np.linalg.norm(pos - tasks[:, None, None, :], axis=-1)
    np.testing.assert_allclose(r.reward.numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("outer", ["trpo", "promp"])
def test_outer_update_improves_the_surrogate_within_bounds(outer):
    cfg = MetaRLConfig(env="point", meta_batch=4, rollouts_per_task=4, horizon=20, outer=outer, hidden_sizes=(16,))
    t = MetaRLTrainer(cfg)
    m = t.iteration()
    if outer == "trpo":
        assert m["losses/step_accepted"] == 1.0
        assert m["losses/outer_kl"] <= cfg.max_kl + 1e-7 and m["losses/surrogate_after"] < m["losses/surrogate_before"]
    else:
        assert m["losses/clipped_after"] < m["losses/clipped_before"]
    assert t.global_step == 4 * 4 * 20 * 2
    t.close()


def test_meta_train_cli_resume_is_bitwise(tmp_path):
    """3 meta-iterations straight == 2, then --resume to 3 (same learner, task RNG and progress rows)."""
    common = [
        "--meta-batch",
        "3",
        "--rollouts-per-task",
        "2",
        "--horizon",
        "15",
        "--hidden-sizes",
        "16",
        "16",
        "--eval-tasks",
        "2",
        "--eval-rollouts",
        "2",
        "--eval-steps",
        "1",
        "--checkpoint-every",
        "1",
        "--no-progress",
    ]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["meta-train", "cheetah-vel", *common, "--meta-iterations", "3", "--run-dir", str(a)]) == 0
    assert main(["meta-train", "cheetah-vel", *common, "--meta-iterations", "2", "--run-dir", str(b)]) == 0
    assert main(["meta-train", "--resume", str(b), "--meta-iterations", "3"]) == 0
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert ca["trainer"]["iteration"] == cb["trainer"]["iteration"] == 3
    for k, v in ca["trainer"]["learner"].items():
        assert torch.equal(v, cb["trainer"]["learner"][k]), k
    assert json.loads((b / "config.json").read_text())["meta_iterations"] == 3
    ev = json.loads((a / "eval.json").read_text())
    assert set(ev["return_after_steps"]) == {"0", "1"} and ev["eval_tasks"] == 2
    rows = (a / "progress.csv").read_text().splitlines()
    assert rows[0].startswith("global_step") and len(rows) == 1 + 3 + 1  # 3 iterations + the final eval
    assert main(["meta-train", "cheetah-dir", "--resume", str(b)]) == 2  # family mismatch: one-line error
