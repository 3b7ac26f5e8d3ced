"""Changing the network, or the update, is a supported move: a subclass's `build_actor` /
`build_critic` networks are what the optimizers step and every path runs, a forward hook is never
read around, and a path that cannot run a subclass's code says so in one line instead of dropping it.
Checked on every path: eager and --compile for PPO; eager, --compile (the CPU's vmapped, compiled
update) and --seeds 2 for SAC and TD3 subclasses with another network, an extra loss term and an
overridden update_step, whose parameters and metrics move exactly as computed by hand."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from rlmeta.agents.offpolicy.ddpg import DDPG, DDPGConfig
from rlmeta.agents.offpolicy.sac import SAC, SACConfig
from rlmeta.agents.offpolicy.td3 import TD3, TD3Config
from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig
from rlmeta.app import registry
from rlmeta.app.multiseed import train_seeds
from rlmeta.app.runner import build_agent
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.errors import ConfigError
from rlmeta.core.networks import GaussianActor, QEnsemble
from rlmeta.core.optim import FlatAdam


class NormedGaussianActor(GaussianActor):
    """A different network: LayerNorm after the first layer (no fast path knows it) and a counter of
    forward calls, so the test sees that this module itself ran."""

    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__(obs_dim, act_dim, (16,), "tanh")
        self.mu = nn.Sequential(nn.Linear(obs_dim, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, act_dim))
        self.calls = 0

    def forward(self, obs):
        self.calls += 1
        return super().forward(obs)


class WidePPO(PPO):
    def build_actor(self, obs_dim, act_dim):
        return NormedGaussianActor(obs_dim, act_dim)


PPO_TINY = dict(
    env="Hopper-v5",
    num_envs=2,
    num_steps=64,
    num_minibatches=2,
    update_epochs=1,
    total_steps=256,
    progress=False,
    device="cpu",
)


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: nn.Module) -> bool:
    return all(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.fixture()
def registered():
    names = []

    def add(name, cls):
        registry.register(name, cls)
        names.append(name)

    yield add
    for n in names:
        registry.ALGOS.pop(n, None)


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compile"])
def test_ppo_subclass_network_is_trained_on_every_path(registered, compile):
    registered("wide-ppo", WidePPO)
    agent = build_agent("wide-ppo", PPOConfig(**PPO_TINY, compile=compile))
    try:
        assert isinstance(agent.actor, NormedGaussianActor)
        # the optimizer steps the subclass's parameters, not a default network's
        assert sum(p.numel() for p in agent.actor.parameters()) == agent.actor_opt.flat.numel()
        before = snapshot(agent.actor)
        agent.actor.calls = 0
        agent.iteration()
        assert agent.actor.calls > 0  # collection and the loss ran this module's forward
        assert changed(before, agent.actor)  # LayerNorm included: every parameter moved
    finally:
        agent.envs.close()


def test_forward_hook_runs_during_collection(registered):
    """The default network's fast collection path reads the weights directly; with a forward hook
    registered it must call the module, so the hook sees every collection step."""
    agent = build_agent("ppo", PPOConfig(**PPO_TINY))
    seen = []
    agent.actor.mu[0].register_forward_hook(lambda m, i, o: seen.append(o.shape[0]))
    vseen = []
    agent.critic.register_forward_hook(lambda m, i, o: vseen.append(o.shape[0]))
    try:
        agent.collect()
        assert seen.count(2) >= 64 and vseen.count(2) >= 64  # one call per vector step of 2 envs
    finally:
        agent.envs.close()


# ---------------------------------------------------------------------- off-policy: one update step, every executor
class CountingQ(QEnsemble):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.extra = nn.Parameter(torch.zeros(()))  # a parameter the default critic does not have

    def forward(self, obs, act, members=None, detach_params=False):
        q = super().forward(obs, act, members=members, detach_params=detach_params)
        return q + (self.extra.detach() if detach_params else self.extra)


# The probes: parameters that only the subclass's code reads, each with a constant gradient. Adam's
# step for a constant gradient is exactly -lr (m_hat = g, v_hat = g^2, to float rounding), so after
# n steps a probe holds -n * lr: a hand-computed expectation that fails if the code did not run on
# some step, ran twice, or ran against another parameter than the one the optimizer steps.
PROBE_LR = 0.01


def probe_loss(agent, b):
    """An extra loss term (agents/base.py's hook): actor.probe with slope 1, read through the agent
    it is handed (under --seeds K: that seed's actor)."""
    p = agent.actor.probe
    return p, {"losses/probe": p.detach().clone(), "losses/probe_coef": 1.0}  # a float metric too


def add_probes(agent) -> None:
    agent.extra_losses.append(probe_loss)
    agent.probe2 = torch.zeros(1, requires_grad=True)  # the subclass's own parameter and optimizer
    agent.probe_opt = FlatAdam([agent.probe2], lr=PROBE_LR)


def probed(actor: nn.Module) -> nn.Module:
    actor.probe = nn.Parameter(torch.zeros(()))  # in the actor's optimizer; the forward never reads it
    return actor


def step_probe2(L) -> torch.Tensor:
    """One more step in the overridden update_step: probe_opt on 2 * probe2 -> probe2 after it."""
    L.minimize("probe_opt", lambda nets: (2 * nets.probe2.sum(), ()))
    return L.nets.probe2.detach().clone()


class ProbedSAC(SAC):
    """Another critic (build hook), an extra loss term, and update_step overridden to step its own
    optimizer after every update."""

    def __init__(self, cfg, envs, device):
        super().__init__(cfg, envs, device)
        add_probes(self)

    def build_actor(self, obs_dim, act_dim):
        return probed(super().build_actor(obs_dim, act_dim))

    def build_critic(self, obs_dim, act_dim):
        return CountingQ(obs_dim, act_dim, (24,), n=2, activation="relu")

    def update_step(self, L, b, noise):
        metrics = super().update_step(L, b, noise)
        metrics["losses/probe2"] = step_probe2(L)
        return metrics


class ProbedTD3(TD3):
    """An extra loss term, and update_step overridden to step its own optimizer with the delayed
    actor step only (a Python branch on graph_key(): one compiled graph each way)."""

    def __init__(self, cfg, envs, device):
        super().__init__(cfg, envs, device)
        add_probes(self)

    def build_actor(self, obs_dim, act_dim):
        return probed(super().build_actor(obs_dim, act_dim))

    def update_step(self, L, b, noise):
        metrics = super().update_step(L, b, noise)
        if self.graph_key():
            metrics["losses/probe2"] = step_probe2(L)
        return metrics


TINY = dict(
    env="Hopper-v5",
    hidden_sizes=(16,),
    batch_size=16,
    start_steps=50,
    update_after=50,
    update_every=25,
    eval_every=0,
    log_every=100,
    buffer_size=1000,
    total_steps=100,
    progress=False,
    device="cpu",
    torch_threads=1,
)


def last_row(run_dir) -> dict[str, float]:
    with open(run_dir / "progress.csv") as f:
        return {k: float(v) for k, v in list(csv.DictReader(f))[-1].items() if v != ""}


@pytest.mark.parametrize("executor", ["eager", "compile", "seeds"])
@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_subclass_update_step_and_extra_loss_run_on_every_executor(registered, tmp_path, capsys, algo, executor):
    cls, Cfg = {"sac": (ProbedSAC, SACConfig), "td3": (ProbedTD3, TD3Config)}[algo]
    registered(f"probed-{algo}", cls)
    seeds = 2 if executor == "seeds" else 1  # one config: train_seeds runs the single-run path
    cfgs = [Cfg(**TINY, compile=executor == "compile", seed=s, run_dir=str(tmp_path / f"s{s}")) for s in range(seeds)]
    train_seeds(f"probed-{algo}", cfgs)
    err = capsys.readouterr().err
    assert "eager" not in err and "failed" not in err, err  # the executor asked for ran, no fallback
    for s in range(seeds):
        row = last_row(tmp_path / f"s{s}")
        ck = load_checkpoint(tmp_path / f"s{s}" / "checkpoint.pt")["agent"]
        n = int(row["charts/num_updates"])
        n_actor = n if algo == "sac" else n // 2  # TD3's policy_delay 2: the actor steps on even updates
        n_probe2 = n if algo == "sac" else n_actor
        assert n == 75 and ck["actor_opt"]["t"] == n_actor and ck["probe_opt"]["t"] == n_probe2
        # the extra loss: -pi_lr per actor step; its metric is logged before the last actor step
        assert float(ck["actor"]["probe"]) == pytest.approx(-n_actor * 1e-3, rel=1e-4)
        assert row["losses/probe"] == pytest.approx(-(n_actor - 1) * 1e-3, rel=1e-4) and row["losses/probe_coef"] == 1.0
        # the overridden update_step: -PROBE_LR per step of probe_opt, its metric logged after it
        assert row["losses/probe2"] == pytest.approx(-n_probe2 * PROBE_LR, rel=1e-4)
        if algo == "sac":  # the build hook's critic is what the critic optimizer trains
            assert float(ck["critic"]["extra"]) != 0.0


def test_bound_networks_see_each_seeds_parameters():
    """Under --seeds K an extra loss calls the actor, one of its methods, a submodule, or reads a
    parameter (of a ParameterList too): each sees that seed's parameters (the template agent's
    modules, rebound per seed)."""
    from rlmeta.agents.offpolicy.stacked import StackedSeeds

    agents = [build_agent("sac", SACConfig(**TINY, seed=s)) for s in range(2)]
    try:
        S = StackedSeeds(agents)
        obs = torch.randn(2, 5, agents[0].envs.single_observation_space.shape[0])  # [K, B, obs_dim]

        def probe(flat, q_flat, obs):
            actor = S.bind("actor_opt", S.unflatten("actor_opt", flat))
            critic = S.bind("critic_opt", S.unflatten("critic_opt", q_flat))
            first = actor.net[0]  # a submodule, rebound
            return actor(obs)[0], actor.deterministic(obs), first(obs), first.weight, critic.weights[1]

        out = torch.func.vmap(probe)(S.flats["actor_opt"], S.flats["critic_opt"], obs)
        for i, a in enumerate(agents):  # each agent's own live modules on its own row
            want = (
                a.actor(obs[i])[0],
                a.actor.deterministic(obs[i]),
                a.actor.net[0](obs[i]),
                a.actor.net[0].weight,
                a.critic.weights[1],
            )
            for got, w in zip(out, want):
                torch.testing.assert_close(got[i], w.detach())
        assert not torch.equal(out[1][0], out[1][1])  # the seeds' actors differ
    finally:
        for a in agents:
            a.envs.close()


def item_loss(agent, b):
    """An extra loss that reads a number on the host: no vmapped or captured executor can run it."""
    pen = agent.actor(b.obs).pow(2).mean()
    return 0.1 * pen, {"losses/pen": pen.item()}


class ItemDDPG(DDPG):
    def __init__(self, cfg, envs, device):
        super().__init__(cfg, envs, device)
        self.extra_losses.append(item_loss)


def test_extra_loss_the_vmapped_executor_cannot_run_is_said_in_one_line(registered, tmp_path, capsys):
    registered("item-ddpg", ItemDDPG)
    # --compile on the CPU: one warning, then the eager update runs it
    agent = build_agent("item-ddpg", DDPGConfig(**TINY, compile=True))
    try:
        m = agent.iteration()
        assert agent.loop.num_updates > 0 and m["losses/pen"] > 0
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("rlmeta:")]
        assert len(err) == 1 and "failed there" in err[0] and "eager update() instead" in err[0], err
    finally:
        agent.envs.close()
    # --seeds K: refused in one line
    cfgs = [DDPGConfig(**TINY, seed=s, run_dir=str(tmp_path / f"s{s}")) for s in range(2)]
    with pytest.raises(ConfigError, match="vmapped over the seeds, and it failed there") as e:
        train_seeds("item-ddpg", cfgs)
    assert "\n" not in str(e.value) and ".item()" in str(e.value)


class OverriddenUpdateSAC(SAC):
    """Overrides update(), the eager executor, instead of update_step()."""

    calls = 0

    def update(self, b):
        OverriddenUpdateSAC.calls += 1
        return super().update(b)


def test_overridden_update_runs_under_compile_with_one_line(registered, capsys):
    registered("upd-sac", OverriddenUpdateSAC)
    agent = build_agent("upd-sac", SACConfig(**TINY, compile=True))
    try:
        OverriddenUpdateSAC.calls = 0
        agent.iteration()
        assert OverriddenUpdateSAC.calls == agent.loop.num_updates > 0
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("rlmeta:")]
        assert len(err) == 1 and "OverriddenUpdateSAC overrides update()" in err[0] and "update_step()" in err[0]
    finally:
        agent.envs.close()


def test_overridden_update_is_refused_by_seeds(registered, tmp_path):
    registered("upd-sac", OverriddenUpdateSAC)
    cfgs = [SACConfig(**TINY, seed=s, run_dir=str(tmp_path / f"s{s}")) for s in range(2)]
    with pytest.raises(ConfigError, match="OverriddenUpdateSAC overrides update\\(\\)"):
        train_seeds("upd-sac", cfgs)
