"""Changing the network, or the update, is a supported move: a subclass's `build_actor` /
`build_critic` networks are what the optimizers step and every path runs, a forward hook is never
read around, and a path that cannot run a subclass's code says so in one line instead of dropping it.
Checked on every path: eager and --compile for PPO; eager, --compile (the CPU's functional update)
and --seeds 2 for SAC."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rlmeta.agents.offpolicy.sac import SAC, SACConfig
from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig
from rlmeta.app import registry
from rlmeta.app.multiseed import train_seeds
from rlmeta.app.runner import build_agent
from rlmeta.core.errors import ConfigError
from rlmeta.core.networks import GaussianActor, QEnsemble


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


PPO_TINY = dict(env="Hopper-v5", num_envs=2, num_steps=64, num_minibatches=2, update_epochs=1, total_steps=256,
                progress=False, device="cpu")


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


class CountingQ(QEnsemble):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.extra = nn.Parameter(torch.zeros(()))  # a parameter the default critic does not have

    def forward(self, obs, act, members=None, detach_params=False):
        q = super().forward(obs, act, members=members, detach_params=detach_params)
        return q + (self.extra.detach() if detach_params else self.extra)


class MySAC(SAC):
    def build_critic(self, obs_dim, act_dim):
        return CountingQ(obs_dim, act_dim, (24,), n=2, activation="relu")


class OverriddenUpdateSAC(SAC):
    calls = 0

    def update(self, b):
        OverriddenUpdateSAC.calls += 1
        return super().update(b)


SAC_TINY = dict(env="Hopper-v5", hidden_sizes=(16,), batch_size=16, start_steps=50, update_after=50,
                update_every=25, eval_every=0, log_every=100, buffer_size=1000, total_steps=100, progress=False,
                device="cpu", torch_threads=1)


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compile"])
def test_sac_subclass_critic_is_trained_on_every_path(registered, compile):
    registered("my-sac", MySAC)
    agent = build_agent("my-sac", SACConfig(**SAC_TINY, compile=compile))
    try:
        assert isinstance(agent.critic, CountingQ) and isinstance(agent.critic_targ, CountingQ)
        before = snapshot(agent.critic)
        agent.iteration()
        assert agent.loop.num_updates > 0 and changed(before, agent.critic)
    finally:
        agent.envs.close()


def test_sac_subclass_critic_is_trained_with_seeds(registered, tmp_path):
    registered("my-sac", MySAC)
    cfgs = [SACConfig(**SAC_TINY, seed=s, run_dir=str(tmp_path / f"s{s}")) for s in range(2)]
    train_seeds("my-sac", cfgs)
    from rlmeta.core.checkpoint import load_checkpoint

    for s in range(2):
        critic = load_checkpoint(tmp_path / f"s{s}" / "checkpoint.pt")["agent"]["critic"]
        assert float(critic["extra"]) != 0.0  # the subclass's own parameter was trained


def test_overridden_update_runs_under_compile_with_one_line(registered, capsys):
    registered("upd-sac", OverriddenUpdateSAC)
    agent = build_agent("upd-sac", SACConfig(**SAC_TINY, compile=True))
    try:
        OverriddenUpdateSAC.calls = 0
        agent.iteration()
        assert OverriddenUpdateSAC.calls == agent.loop.num_updates > 0
        err = [ln for ln in capsys.readouterr().err.splitlines() if "update_seeds" in ln]
        assert len(err) == 1 and "OverriddenUpdateSAC overrides update() but not update_seeds()" in err[0]
    finally:
        agent.envs.close()


def test_overridden_update_is_refused_by_seeds(registered, tmp_path):
    registered("upd-sac", OverriddenUpdateSAC)
    cfgs = [SACConfig(**SAC_TINY, seed=s, run_dir=str(tmp_path / f"s{s}")) for s in range(2)]
    with pytest.raises(ConfigError, match="overrides update\\(\\) but not update_seeds\\(\\)"):
        train_seeds("upd-sac", cfgs)
