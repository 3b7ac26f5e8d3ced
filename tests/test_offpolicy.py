"""DDPG / TD3 / SAC and their shared mechanics (agents/offpolicy/base.py, replay.py, networks.py),
checked against hand computations in float64 and closed forms."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from torch import nn

from rlmeta.agents.offpolicy import ddpg, sac, td3
from rlmeta.agents.offpolicy.base import OffPolicyConfig, OffPolicyLoop, make_target, polyak_update
from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.graphs import maybe_compile
from rlmeta.core.networks import DeterministicActor, QEnsemble, SquashedGaussianActor
from rlmeta.core.optim import FlatAdam
from rlmeta.core.replay import ReplayBatch, ReplayBuffer
from rlmeta.core.vec_env import VecEnv
from rlmeta.envs.gym_backend import GymBackend

D = torch.float64


# ---------------------------------------------------------------------- independent forward passes
def seq_forward(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """An nn.Sequential of Linear/ReLU layers evaluated by hand in float64."""
    x = x.to(D)
    for layer in seq:
        if isinstance(layer, nn.Linear):
            x = x @ layer.weight.detach().to(D).T + layer.bias.detach().to(D)
        else:
            assert isinstance(layer, nn.ReLU)
            x = x.clamp_min(0)
    return x


def q_member(q: QEnsemble, e: int, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Critic e of the ensemble, by hand: [B]."""
    x = torch.cat([obs, act], -1).to(D)
    n_layers = len(q.weights)
    for i in range(n_layers):
        x = x @ q.weights[i][e].detach().to(D) + q.biases[i][e, 0].detach().to(D)
        if i < n_layers - 1:
            x = x.clamp_min(0)
    return x[:, 0]


def det_actor(actor: DeterministicActor, obs: torch.Tensor) -> torch.Tensor:
    return torch.tanh(seq_forward(actor.mu, obs)) * actor.act_scale.to(D) + actor.act_bias.to(D)


def tiny_batch(obs_dim=3, act_dim=2, b=5, seed=0) -> ReplayBatch:
    g = torch.Generator().manual_seed(seed)
    return ReplayBatch(
        torch.randn(b, obs_dim, generator=g),
        torch.rand(b, act_dim, generator=g) * 2 - 1,
        torch.randn(b, generator=g),
        torch.randn(b, obs_dim, generator=g),
        torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0])[:b],
    )


# ---------------------------------------------------------------------- polyak / targets
def test_polyak_update_flat_and_module():
    g = torch.Generator().manual_seed(0)
    t, s = torch.randn(7, generator=g), torch.randn(7, generator=g)
    expected = 0.9 * t + 0.1 * s
    polyak_update(t, s, 0.9)
    torch.testing.assert_close(t, expected)

    src, tgt = nn.Linear(3, 4), nn.Linear(3, 4)
    expected = [0.995 * p.detach() + 0.005 * q.detach() for p, q in zip(tgt.parameters(), src.parameters())]
    polyak_update(tgt, src, 0.995)
    for p, e in zip(tgt.parameters(), expected):
        torch.testing.assert_close(p.detach(), e)

    # make_target + FlatAdam: the one-lerp update on flat buffers moves the target module's parameters
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    targ, targ_flat = make_target(net)
    opt = FlatAdam(net.parameters(), lr=0.1)
    opt.minimize(net(torch.randn(8, 3)).pow(2).mean())  # source moves away from the target
    before = [p.detach().clone() for p in targ.parameters()]
    polyak_update(targ_flat, opt.flat, 0.75)
    for p_t, p0, p_s in zip(targ.parameters(), before, net.parameters()):
        torch.testing.assert_close(p_t.detach(), 0.75 * p0 + 0.25 * p_s.detach())
        assert not p_t.requires_grad


# ---------------------------------------------------------------------- TD3
def test_td3_target_smoothing_clips_noise_and_action():
    low, high = torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0])
    scale = (high - low) / 2
    a_mid = torch.zeros(4000, 2)
    torch.manual_seed(0)
    a2 = td3.smoothed_target_action(a_mid, target_noise=1e7, noise_clip=0.5, scale=scale, low=low, high=high)
    # huge noise: every draw saturates the clip at +-noise_clip (in half-widths), both signs occur
    torch.testing.assert_close(a2.abs(), (0.5 * scale).expand_as(a2))
    assert (a2 > 0).any(0).all() and (a2 < 0).any(0).all()
    # near the Box edge the smoothed action is clipped to the Box
    a_edge = (0.9 * high).expand(4000, 2)
    a2 = td3.smoothed_target_action(a_edge, 1e7, 0.5, scale, low, high)
    assert (a2 <= high).all() and (a2 >= low).all()
    assert torch.isclose(a2, high.expand_as(a2)).any(0).all()  # clipped at high
    torch.testing.assert_close(a2.min(0).values, 0.9 * high - 0.5 * scale)
    # small noise: exactly a + clip(eps * sigma) * scale with the same draws
    torch.manual_seed(1)
    a2 = td3.smoothed_target_action(a_mid[:5], 0.2, 0.5, scale, low, high)
    torch.manual_seed(1)
    eps = (torch.randn(5, 2) * 0.2).clamp(-0.5, 0.5)
    torch.testing.assert_close(a2, eps * scale)


def _agent(algo: str, **kw):
    from rlmeta.app.runner import build_agent

    Cfg = {"ddpg": ddpg.DDPGConfig, "td3": td3.TD3Config, "sac": sac.SACConfig}[algo]
    kw = {"eval_every": 0, **kw}
    cfg = Cfg(
        env="Hopper-v5", hidden_sizes=(16, 16), batch_size=8, buffer_size=1000, start_steps=10**6, progress=False, **kw
    )
    agent = build_agent(algo, cfg)
    step = 0
    while step < 50:  # random actions into the buffer
        step = agent.loop.collect(step, agent.explore)
    return agent


def test_td3_delayed_actor_and_targets():
    agent = _agent("td3", policy_delay=3)
    try:
        changed = []
        for _ in range(9):
            before = [
                agent.actor_opt.flat.clone(),
                agent.critic_opt.flat.clone(),
                agent.actor_targ_flat.clone(),
                agent.critic_targ_flat.clone(),
            ]
            agent.update(agent.loop.buffer.sample(8))
            agent.loop.num_updates += 1  # as OffPolicyLoop does after each update
            after = [agent.actor_opt.flat, agent.critic_opt.flat, agent.actor_targ_flat, agent.critic_targ_flat]
            changed.append([not torch.equal(b, a) for b, a in zip(before, after)])
        actor, critic, actor_t, critic_t = zip(*changed)
        assert all(critic)  # the critics step on every update
        # the actor and both targets move on updates 3, 6, 9 only
        assert list(actor) == list(actor_t) == list(critic_t) == [(k + 1) % 3 == 0 for k in range(9)]
    finally:
        agent.envs.close()


# ---------------------------------------------------------------------- critic targets by hand
def test_ddpg_critic_loss_matches_hand_computation():
    torch.manual_seed(0)
    b = tiny_batch()
    q = QEnsemble(3, 2, (8, 8), n=1)
    q_t = QEnsemble(3, 2, (8, 8), n=1)
    mu_t = DeterministicActor(3, 2, (8,), low=np.array([-1.0, -0.5]), high=np.array([1.0, 0.5]))
    loss, _ = ddpg.critic_loss(q, q_t, mu_t, b, gamma=0.9)
    y = b.rewards.to(D) + 0.9 * (1 - b.dones.to(D)) * q_member(q_t, 0, b.next_obs, det_actor(mu_t, b.next_obs))
    expected = (q_member(q, 0, b.obs, b.actions) - y).pow(2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_td3_critic_loss_matches_hand_computation():
    torch.manual_seed(0)
    b = tiny_batch()
    q, q_t = QEnsemble(3, 2, (8, 8), n=2), QEnsemble(3, 2, (8, 8), n=2)
    mu_t = DeterministicActor(3, 2, (8,))
    low, high = -torch.ones(2), torch.ones(2)
    torch.manual_seed(5)
    loss, _ = td3.critic_loss(q, q_t, mu_t, b, 0.99, 0.2, 0.5, low, high)
    torch.manual_seed(5)  # the same smoothing noise: one randn_like of the target action
    eps = (torch.randn(5, 2) * 0.2).clamp(-0.5, 0.5).to(D)
    a2 = (det_actor(mu_t, b.next_obs) + eps).clamp(-1, 1)
    q_next = torch.minimum(q_member(q_t, 0, b.next_obs, a2), q_member(q_t, 1, b.next_obs, a2))
    y = b.rewards.to(D) + 0.99 * (1 - b.dones.to(D)) * q_next
    expected = sum((q_member(q, e, b.obs, b.actions) - y).pow(2).mean() for e in range(2))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_sac_critic_loss_matches_hand_computation():
    torch.manual_seed(0)
    b = tiny_batch()
    q, q_t = QEnsemble(3, 2, (8, 8), n=2), QEnsemble(3, 2, (8, 8), n=2)
    pi = SquashedGaussianActor(3, 2, (8,))
    alpha = torch.tensor([0.3])
    torch.manual_seed(7)
    loss, _ = sac.critic_loss(q, q_t, pi, b, 0.99, alpha)
    torch.manual_seed(7)  # the same reparameterisation noise: one randn_like of the mean
    eps = torch.randn(5, 2).to(D)
    mean, log_std = seq_forward(pi.net, b.next_obs).split(2, -1)
    log_std = log_std.clamp(-20, 2)
    u = mean + eps * log_std.exp()
    logp_u = (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    logp = logp_u - torch.log1p(-(torch.tanh(u) ** 2)).sum(-1)  # change of variables, direct form
    a2 = torch.tanh(u)
    q_next = torch.minimum(q_member(q_t, 0, b.next_obs, a2), q_member(q_t, 1, b.next_obs, a2))
    y = b.rewards.to(D) + 0.99 * (1 - b.dones.to(D)) * (q_next - 0.3 * logp)
    expected = sum((q_member(q, e, b.obs, b.actions) - y).pow(2).mean() for e in range(2))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------------- SAC policy and temperature
def _constant_policy(mu: list[float], log_std: list[float]) -> SquashedGaussianActor:
    """A SquashedGaussianActor whose output ignores obs: mean mu, log-std log_std."""
    k = len(mu)
    pi = SquashedGaussianActor(2, k, (4,))
    last = pi.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(mu + log_std))
    return pi


def test_sac_tanh_log_prob_matches_change_of_variables():
    mu, sigma = 0.4, 0.7
    pi = _constant_policy([mu], [math.log(sigma)])
    torch.manual_seed(0)
    with torch.no_grad():
        a, logp = pi.sample(torch.zeros(200_000, 2))
    a, logp = a[:, 0].double(), logp.double()
    # closed form: a = tanh(u), u ~ N(mu, sigma^2)  =>  p(a) = N(atanh(a); mu, sigma) / (1 - a^2)
    keep = a.abs() < 0.999  # atanh is ill-conditioned at the edge in float32 samples
    u = torch.atanh(a[keep])
    closed = (
        -0.5 * ((u - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi) - torch.log1p(-(a[keep] ** 2))
    )
    torch.testing.assert_close(logp[keep], closed, rtol=1e-4, atol=2e-3)
    # and the density it defines is the sample's: histogram against exp(log p) on the bin centres
    edges = torch.linspace(-0.95, 0.95, 39, dtype=D)
    hist = torch.histc(a, bins=38, min=-0.95, max=0.95) / (a.numel() * (edges[1] - edges[0]))
    c = (edges[:-1] + edges[1:]) / 2
    uc = torch.atanh(c)
    dens = torch.exp(-0.5 * ((uc - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)) / (1 - c**2)
    torch.testing.assert_close(hist, dens, rtol=0.05, atol=0.02)
    # the density integrates to 1 over (-1, 1) (trapezoid on a fine grid in u-space)
    ug = torch.linspace(-8, 8, 20001, dtype=D)
    ag = torch.tanh(ug)
    pa = torch.exp(-0.5 * ((ug - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)) / (1 - ag**2)
    assert torch.trapezoid(pa * (1 - ag**2), ug).item() == pytest.approx(1.0, abs=1e-6)


def test_sac_log_prob_sums_over_independent_dims_and_deterministic_action():
    pi = _constant_policy([0.4, -1.0], [math.log(0.7), math.log(0.3)])
    torch.manual_seed(0)
    with torch.no_grad():
        a, logp = pi.sample(torch.zeros(1000, 2))
    a64 = a.double().clamp(-1 + 1e-6, 1 - 1e-6)
    per_dim = []
    for j, (m, s) in enumerate([(0.4, 0.7), (-1.0, 0.3)]):
        u = torch.atanh(a64[:, j])
        log_n = -0.5 * ((u - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        per_dim.append(log_n - torch.log1p(-(a64[:, j] ** 2)))
    keep = a.abs().max(1).values < 0.999
    torch.testing.assert_close(logp.double()[keep], (per_dim[0] + per_dim[1])[keep], rtol=1e-4, atol=2e-3)
    torch.testing.assert_close(pi.deterministic(torch.zeros(1, 2)), torch.tanh(torch.tensor([[0.4, -1.0]])))


@pytest.mark.parametrize("entropy_below_target", [True, False])
def test_alpha_loss_sign(entropy_below_target):
    log_alpha = torch.zeros(1, requires_grad=True)
    opt = FlatAdam([log_alpha], lr=0.1)
    target_entropy = -2.0
    # entropy = -E[log pi]: log pi = 3 -> entropy -3 < -2 (below target); log pi = 1 -> -1 > -2
    logp = torch.full((64,), 3.0 if entropy_below_target else 1.0)
    opt.minimize(sac.alpha_loss(log_alpha, logp, target_entropy))
    assert (log_alpha.item() > 0) == entropy_below_target and log_alpha.item() != 0


# ---------------------------------------------------------------------- replay buffer
def _rows(ids, obs_dim=2, act_dim=1):
    ids = torch.as_tensor(ids, dtype=torch.float32)
    n = ids.numel()
    return (
        ids[:, None].expand(n, obs_dim),
        torch.zeros(n, act_dim),
        ids,
        ids[:, None].expand(n, obs_dim) + 0.5,
        torch.zeros(n),
    )


def test_replay_wraparound_keeps_newest_rows():
    rb = ReplayBuffer(5, obs_dim=2, act_dim=1)
    rb.add(*_rows([1, 2, 3]))
    rb.add(*_rows([4, 5, 6, 7]))  # wraps: 1 and 2 are overwritten
    assert len(rb) == 5 and rb.ptr == 2
    assert sorted(rb.data[:, 0].tolist()) == [3, 4, 5, 6, 7]
    torch.testing.assert_close(rb.data[:2, 0], torch.tensor([6.0, 7.0]))  # the oldest rows went first
    rb.add(*_rows(range(10, 22)))  # more rows than capacity in one call: the newest 5 survive
    assert sorted(rb.data[:, 0].tolist()) == [17, 18, 19, 20, 21] and rb.ptr == 2 and len(rb) == 5
    b = rb.split(rb.data)  # the columns line up with what was added
    torch.testing.assert_close(b.next_obs, b.obs + 0.5)
    torch.testing.assert_close(b.rewards, b.obs[:, 0])


def test_replay_sampling_covers_exactly_the_stored_rows():
    rb = ReplayBuffer(50, obs_dim=2, act_dim=1)
    for start in range(1, 38, 4):  # 37 rows (ids 1..37) in chunks, not full
        rb.add(*_rows(range(start, min(start + 4, 38))))
    assert len(rb) == 37
    torch.manual_seed(0)
    seen = torch.cat([rb.sample(256).obs[:, 0] for _ in range(40)])
    assert set(seen.long().tolist()) == set(range(1, 38))  # every stored row, none of the empty ones
    counts = torch.bincount(seen.long(), minlength=38)[1:].double()
    assert counts.min() > 0.5 * counts.mean()  # roughly uniform (expected 277 each)
    # after wrapping, the whole capacity is sampled
    rb.add(*_rows(range(100, 130)))
    seen = torch.cat([rb.sample(256).obs[:, 0] for _ in range(40)])
    assert set(seen.long().tolist()) == set(rb.data[:, 0].long().tolist())
    # a checkpointed buffer restores the same rows and pointer
    rb2 = ReplayBuffer(50, obs_dim=2, act_dim=1)
    rb2.load_state_dict(rb.state_dict())
    assert torch.equal(rb2.data, rb.data) and (rb2.ptr, rb2.size) == (rb.ptr, rb.size)


def test_collect_stores_truncation_as_nonterminal_with_final_obs():
    # Hopper with a 20-step time limit: random actions end some episodes by falling (terminated)
    # and the rest by the time limit (truncated)
    envs = VecEnv(GymBackend("Hopper-v5", 2, max_episode_steps=20), seed=0, env_id="Hopper-v5")
    cfg = OffPolicyConfig(env="Hopper-v5", start_steps=10**6, buffer_size=10_000)
    loop = OffPolicyLoop(cfg, envs, torch.device("cpu"))
    outs, acted_on = [], []
    real_step = envs.step

    def spy(actions):
        acted_on.append(loop.obs.clone())
        out = real_step(actions)
        outs.append(out)
        return out

    envs.step = spy
    try:
        step = 0
        while step < 400:
            step = loop.collect(step, explore=None)
    finally:
        envs.close()
    assert step == 400 and len(loop.buffer) == 400
    b = loop.buffer.split(loop.buffer.data[:400])
    term = np.concatenate([o.terminated for o in outs])
    trunc = np.concatenate([o.truncated for o in outs])
    final = torch.as_tensor(np.concatenate([o.final_obs for o in outs]))
    nxt = torch.as_tensor(np.concatenate([o.obs for o in outs]))
    assert term.sum() > 3 and trunc.sum() > 3  # both kinds of episode end occurred
    torch.testing.assert_close(b.dones, torch.as_tensor(term, dtype=torch.float32))  # truncated -> done 0
    torch.testing.assert_close(b.next_obs, final)  # the true last observation, not the reset one
    assert not torch.allclose(final[trunc], nxt[trunc])  # (which differs from the reset obs)
    torch.testing.assert_close(b.obs, torch.cat(acted_on))
    torch.testing.assert_close(b.rewards, torch.as_tensor(np.concatenate([o.reward for o in outs])))
    # an ended episode's next row starts from the reset observation
    ends = np.flatnonzero(term | trunc)
    ends = ends[ends + 2 < 400]
    torch.testing.assert_close(b.obs[ends + 2], nxt[ends])


# ---------------------------------------------------------------------- the update-phase schedule
def test_loop_schedule_update_to_data_ratio_and_eval_steps():
    """Phases of 30 env steps, 0.5 updates per env step once 100 transitions are stored, rows every
    70 steps, evaluations exactly at 100, 200, 300 (phases are cut there and at total_steps)."""
    agent = _agent(
        "ddpg",
        update_after=100,
        update_every=30,
        utd_ratio=0.5,
        log_every=70,
        eval_every=100,
        eval_episodes=2,
        eval_envs=2,
        total_steps=310,
    )
    try:
        agent.global_step = 50  # _agent collected 50 random transitions
        logged = []
        while agent.global_step < agent.cfg.total_steps:
            m = agent.iteration()
            logged.append((agent.global_step, m["charts/num_updates"], "charts/test_return" in m))
    finally:
        agent.envs.close()
    # 50 -> 80 (buffer 80 < 100: no update) -> 100 (cut at the eval: 20 steps, 10 updates); 100 ->
    # 190 (3 phases, 45); -> 200 (cut, 5); -> 290 (45); -> 300 (5); -> 310 (cut at the end, 5)
    assert logged == [
        (100, 10, True),
        (190, 55, False),
        (200, 60, True),
        (290, 105, False),
        (300, 110, True),
        (310, 115, False),
    ]
    assert agent.loop.next_eval == 400


# ---------------------------------------------------------------------- research hook, compile
@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_extra_loss_reaches_the_actor_loss(algo):
    agent = _agent(algo, policy_delay=1) if algo == "td3" else _agent(algo)
    calls = []

    def action_l2(agent, batch, coef=100.0):
        a = agent.act(batch.obs.numpy(), True)  # any differentiable term of the batch would do
        pen = agent.actor(batch.obs) if algo != "sac" else agent.actor(batch.obs)[0]
        calls.append(a.shape)
        return coef * pen.pow(2).mean(), {"losses/action_l2": pen.detach().pow(2).mean()}

    try:
        agent.extra_losses.append(action_l2)
        torch.manual_seed(0)
        b = agent.loop.buffer.sample(8)
        before = agent.actor_opt.flat.clone()
        metrics = agent.update(b)
    finally:
        agent.envs.close()
    assert len(calls) == 1 and float(metrics["losses/action_l2"]) > 0
    assert not torch.equal(before, agent.actor_opt.flat)


def test_compiled_loss_equals_eager():
    pytest.importorskip("torch._dynamo")
    torch.manual_seed(0)
    b = tiny_batch()
    q, q_t = QEnsemble(3, 2, (8, 8), n=1), QEnsemble(3, 2, (8, 8), n=1)
    mu_t = DeterministicActor(3, 2, (8,))
    eager, _ = ddpg.critic_loss(q, q_t, mu_t, b, 0.99)
    g_eager = torch.autograd.grad(eager, list(q.parameters()))
    try:
        compiled_fn = torch.compile(ddpg.critic_loss, dynamic=False)
        comp, _ = compiled_fn(q, q_t, mu_t, b, 0.99)
    except Exception as e:  # no C++ toolchain / unsupported platform: maybe_compile runs eagerly then
        pytest.skip(f"torch.compile unavailable here: {type(e).__name__}")
    g_comp = torch.autograd.grad(comp, list(q.parameters()))
    torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-6)
    for a, c in zip(g_eager, g_comp):
        torch.testing.assert_close(c, a, rtol=1e-4, atol=1e-6)
    # maybe_compile(enabled=False) is the function itself
    assert maybe_compile(ddpg.critic_loss, False) is ddpg.critic_loss


# ---------------------------------------------------------------------- CLI run + resume
@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_short_cli_run_and_resume(algo, tmp_path):
    rd = tmp_path / algo
    common = [
        "--env",
        "Hopper-v5",
        "--hidden-sizes",
        "32",
        "32",
        "--batch-size",
        "32",
        "--start-steps",
        "100",
        "--update-after",
        "100",
        "--update-every",
        "50",
        "--eval-every",
        "300",
        "--eval-episodes",
        "2",
        "--eval-envs",
        "2",
        "--log-every",
        "200",
        "--buffer-size",
        "5000",
        "--no-progress",
    ]
    assert main(["train", algo, "--total-steps", "600", "--run-dir", str(rd), *common]) == 0
    ck = load_checkpoint(rd / "checkpoint.pt")
    assert ck["global_step"] == 600 and ck["agent"]["loop"]["buffer"]["size"] == 600
    assert main(["train", algo, "--resume", str(rd), "--total-steps", "900"]) == 0
    ck2 = load_checkpoint(rd / "checkpoint.pt")
    assert ck2["global_step"] == 900
    # the buffer came back from the checkpoint (a fresh one would hold 300 rows) and its first 600
    # rows are the saved ones; updates continued from the saved count (one per step from the phase ending at 100)
    loop2 = ck2["agent"]["loop"]
    assert loop2["buffer"]["size"] == 900 and loop2["num_updates"] == 850 and loop2["next_eval"] == 1200
    assert torch.equal(loop2["buffer"]["data"][:600], ck["agent"]["loop"]["buffer"]["data"])
    assert not torch.equal(ck["agent"]["critic_opt"]["m"], ck2["agent"]["critic_opt"]["m"])
    with open(rd / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["global_step"]) for r in rows] == [200, 300, 500, 600, 800, 900]
    tested = [int(r["global_step"]) for r in rows if r.get("charts/test_return", "") not in ("", None)]
    assert tested == [300, 600, 900]
    assert float(rows[-1]["charts/num_updates"]) == 850
