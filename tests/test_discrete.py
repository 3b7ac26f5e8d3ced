"""Discrete actions for VPG, TRPO and PPO: the categorical math against torch.distributions, TRPO's
Fisher-vector product against the exact Hessian of the KL, the env receiving integers, a CartPole run
that learns, and a bit-for-bit resume. DDPG/TD3/SAC keep refusing discrete spaces in one line."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, kl_divergence

from rlmeta.agents.onpolicy.trpo import mean_kl
from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.distributions import categorical_entropy, categorical_kl, categorical_log_prob
from rlmeta.core.natural_gradient import fisher_vector_product, flat_grad
from rlmeta.core.networks import CategoricalActor
from rlmeta.envs import make_vec_env


def test_categorical_math_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    logits0, logits1 = torch.randn(64, 5, generator=g) * 3, torch.randn(64, 5, generator=g)
    a = torch.randint(0, 5, (64,), generator=g)
    d0, d1 = Categorical(logits=logits0), Categorical(logits=logits1)
    torch.testing.assert_close(categorical_log_prob(logits0, a), d0.log_prob(a), rtol=0, atol=1e-6)
    torch.testing.assert_close(categorical_log_prob(logits0, a.float()), d0.log_prob(a), rtol=0, atol=1e-6)
    torch.testing.assert_close(categorical_entropy(logits0), d0.entropy(), rtol=0, atol=1e-5)
    torch.testing.assert_close(categorical_kl(logits0, logits1), kl_divergence(d0, d1), rtol=0, atol=1e-5)


def test_categorical_actor_samples_its_probabilities_and_acts_greedily():
    torch.manual_seed(0)
    pi = CategoricalActor(3, 4, (8,))
    obs = torch.randn(1, 3).expand(20_000, 3)
    a, logp = pi.sample(obs)
    assert a.shape == (20_000, 1) and a.dtype == torch.float32 and logp.shape == (20_000,)
    probs = torch.softmax(pi(obs[:1]), -1)[0]
    freq = torch.bincount(a.long().squeeze(-1), minlength=4).float() / 20_000
    assert torch.allclose(freq, probs, atol=0.015)
    torch.testing.assert_close(logp, probs.log()[a.long().squeeze(-1)], rtol=0, atol=1e-5)
    assert pi.act(obs[:1], deterministic=True).item() == probs.argmax().item()


def test_fisher_vector_product_of_the_categorical_kl_equals_the_exact_hessian():
    torch.manual_seed(0)
    actor = CategoricalActor(3, 4, (5,)).double()
    obs = torch.randn(32, 3, dtype=torch.float64)
    with torch.no_grad():
        old = tuple(t.clone() for t in actor.dist_params(obs))
    params = list(actor.parameters())
    kl = lambda: mean_kl(actor, obs, old)  # noqa: E731
    fvp = fisher_vector_product(kl, params, damping=0.0)
    n = sum(p.numel() for p in params)
    g = flat_grad(kl(), params, create_graph=True)
    H = torch.stack([flat_grad(g[i], params, retain_graph=True) for i in range(n)])  # [P, P]
    v = torch.randn(n, dtype=torch.float64)
    assert torch.allclose(fvp(v), H @ v, atol=1e-10)
    assert H.abs().max() > 1e-3  # a real Hessian, not zeros


def test_float_index_actions_reach_the_env_as_integers():
    """[N, 1] float indices step the envs exactly as gymnasium's own vector env with the integers."""
    ours = make_vec_env("CartPole-v1", 3, seed=5)
    ref = gym.make_vec(
        "CartPole-v1",
        num_envs=3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )
    o1 = ours.reset()
    o2, _ = ref.reset(seed=[5, 6, 7])
    assert np.array_equal(o1, o2)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.integers(0, 2, size=3)
        out = ours.step(a.astype(np.float32)[:, None])
        o2, r2, t2, _, _ = ref.step(a)
        assert np.array_equal(out.obs, o2) and np.array_equal(out.reward, r2) and np.array_equal(out.terminated, t2)
    ours.close()
    ref.close()


def _returns(run_dir) -> list[float]:
    with open(run_dir / "progress.csv") as f:
        return [float(r["charts/episodic_return"]) for r in csv.DictReader(f) if r.get("charts/episodic_return")]


def test_ppo_learns_cartpole_far_beyond_a_random_policy(tmp_path):
    """A uniformly random CartPole-v1 policy lasts about 22 steps; 20k steps of the classic preset
    (CleanRL's ppo.py settings) reach well beyond (seen: about 150)."""
    run = tmp_path / "cp"
    assert (
        main(
            [
                "train",
                "ppo",
                "--preset",
                "classic",
                "--total-steps",
                "20480",
                "--run-dir",
                str(run),
                "--no-progress",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    rets = _returns(run)
    assert np.mean(rets[:2]) < 40 and np.mean(rets[-3:]) > 60


@pytest.mark.parametrize("algo", ["ppo", "trpo", "vpg"])
def test_discrete_run_resumes_bit_for_bit(tmp_path, algo):
    flags = ["--env", "CartPole-v1", "--num-envs", "2", "--num-steps", "256", "--no-progress", "--seed", "3"]
    if algo == "ppo":
        flags += ["--preset", "classic", "--num-steps", "256"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", algo, *flags, "--total-steps", "1536", "--run-dir", str(a), "--checkpoint-every", "512"]) == 0
    assert main(["train", algo, *flags, "--total-steps", "512", "--run-dir", str(b), "--checkpoint-every", "512"]) == 0
    assert main(["train", algo, "--resume", str(b), "--total-steps", "1536", "--no-progress"]) == 0
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    for net in ("actor", "critic"):
        for k, t in ca["agent"][net].items():
            assert torch.equal(t, cb["agent"][net][k]), (net, k)
    assert (a / "progress.csv").read_text().splitlines()[-1].split(",")[1:4] == (
        b / "progress.csv"
    ).read_text().splitlines()[-1].split(",")[1:4]


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_off_policy_agents_refuse_discrete_spaces_in_one_line(algo, tmp_path, capsys):
    assert main(["train", algo, "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a continuous (Box) action space; CartPole-v1 has Discrete(2)" in err[0]


def test_multi_categorical_math_matches_independent_categoricals():
    from rlmeta.core.networks import MultiCategoricalActor

    torch.manual_seed(0)
    pi = MultiCategoricalActor(3, (3, 2, 4), (8,))
    obs = torch.randn(16, 3)
    a, logp = pi.sample(obs)
    assert a.shape == (16, 3) and logp.shape == (16,)
    parts = torch.split(pi(obs), [3, 2, 4], -1)
    ref_logp = sum(Categorical(logits=lg).log_prob(a[:, k].long()) for k, lg in enumerate(parts))
    ref_ent = sum(Categorical(logits=lg).entropy() for lg in parts)
    got_logp, got_ent = pi.log_prob_entropy(obs, a)
    torch.testing.assert_close(logp, ref_logp, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_logp, ref_logp, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_ent, ref_ent, rtol=0, atol=1e-5)
    old = tuple(t.detach() + 0.3 * torch.randn_like(t) for t in pi.dist_params(obs))
    ref_kl = sum(
        kl_divergence(Categorical(logits=o), Categorical(logits=n))
        for o, n in zip(torch.split(old[0], [3, 2, 4], -1), parts)
    )
    torch.testing.assert_close(pi.kl(obs, old), ref_kl, rtol=0, atol=1e-5)
    greedy = pi.act(obs, deterministic=True)
    assert torch.equal(greedy, torch.stack([lg.argmax(-1) for lg in parts], -1).float())


class _MatchTwoDigits(gym.Env):
    """Observation: two one-hot digits (3 and 2 values); reward 1 for each action dim that copies its
    digit (so 2 per step is perfect, 5/6 expected at random); 16-step episodes."""

    observation_space = gym.spaces.Box(0, 1, (5,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 2])

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def _draw(self):
        self.d = (int(self.np_random.integers(3)), int(self.np_random.integers(2)))
        obs = np.zeros(5, np.float32)
        obs[self.d[0]] = obs[3 + self.d[1]] = 1
        return obs

    def step(self, action):
        assert np.asarray(action).dtype.kind == "i" and np.shape(action) == (2,)
        r = float(action[0] == self.d[0]) + float(action[1] == self.d[1])
        self.t += 1
        return self._draw(), r, False, self.t >= 16, {}


def test_ppo_learns_a_multi_discrete_task(tmp_path):
    gym.register("RlmetaMatchTwoDigits-v0", entry_point=_MatchTwoDigits)
    try:
        run = tmp_path / "md"
        assert (
            main(
                [
                    "train",
                    "ppo",
                    "--preset",
                    "classic",
                    "--env",
                    "RlmetaMatchTwoDigits-v0",
                    "--total-steps",
                    "8192",
                    "--actor-lr",
                    "3e-3",
                    "--critic-lr",
                    "3e-3",
                    "--run-dir",
                    str(run),
                    "--no-progress",
                    "--seed",
                    "0",
                ]
            )
            == 0
        )
    finally:
        gym.registry.pop("RlmetaMatchTwoDigits-v0", None)
    rets = _returns(run)
    # random play scores 16 * (1/3 + 1/2) = 13.3 per episode; copying both digits scores 32
    assert rets[0] < 18 and max(rets[-3:]) > 28, rets


def test_lunar_lander_takes_the_zoo_settings_under_the_classic_preset_and_steps_like_gymnasium():
    """`--preset classic --env LunarLander-v3` gets rl-baselines3-zoo's PPO settings (flags still win),
    and the Box2D task steps through rlmeta's vector env exactly as gymnasium's own env does."""
    from rlmeta.app.cli import parse_train_args

    _, cfg = parse_train_args("ppo", ["--preset", "classic", "--env", "LunarLander-v3"])
    assert (cfg.num_envs, cfg.num_steps, cfg.num_minibatches, cfg.update_epochs) == (16, 1024, 256, 4)
    assert (cfg.gamma, cfg.gae_lambda, cfg.ent_coef, cfg.anneal_lr, cfg.clip_vloss) == (0.999, 0.98, 0.01, False, False)
    _, cfg = parse_train_args("ppo", ["--preset", "classic", "--env", "LunarLander-v3", "--num-envs", "4"])
    assert cfg.num_envs == 4 and cfg.num_steps == 1024
    _, cfg = parse_train_args("ppo", ["--preset", "classic", "--env", "CartPole-v1"])
    assert (cfg.num_envs, cfg.num_steps, cfg.gamma) == (4, 128, 0.99)  # CleanRL's ppo.py, unchanged

    envs = make_vec_env("LunarLander-v3", num_envs=2, seed=3)
    ref = [gym.make("LunarLander-v3") for _ in range(2)]
    obs = envs.reset()
    ref_obs = np.stack([e.reset(seed=3 + i)[0] for i, e in enumerate(ref)])
    np.testing.assert_array_equal(np.asarray(obs), ref_obs)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = rng.integers(0, 4, size=2)
        out = envs.step(a[:, None].astype(np.float32))  # [N, 1] float indices, as the agents store them
        for i, e in enumerate(ref):
            o, r, te, tr, _ = e.step(int(a[i]))
            assert not (te or tr)  # 30 random steps from the start do not end an episode
            np.testing.assert_array_equal(np.asarray(out.obs)[i], o)
            assert out.reward[i] == np.float32(r)  # the batch stores rewards as float32
    envs.close()


def test_a_box2d_task_without_box2d_names_the_extra(monkeypatch):
    from rlmeta.core.errors import ConfigError
    from rlmeta.envs.gym_backend import GymBackend

    def missing(*a, **k):
        raise gym.error.DependencyNotInstalled("Box2D is not installed, you can install it by run `pip install swig`")

    monkeypatch.setattr(GymBackend, "__init__", missing)
    with pytest.raises(
        ConfigError, match=r"^env 'LunarLander-v3' needs Box2D and pygame: pip install 'rlmeta\[box2d\]'$"
    ):
        make_vec_env("LunarLander-v3", num_envs=1)


def test_eval_runs_plays_the_checkpointed_greedy_policy(tmp_path):
    """benchmarks/eval_runs.py: the run's final checkpoint acting by argmax on seeded envs: whole episodes,
    the same numbers twice, the checkpoint's step in the row."""
    from rlmeta.benchmarks import eval_runs

    run = tmp_path / "ppo-cartpole"
    assert (
        main(["train", "ppo", "--preset", "classic", "--total-steps", "1024", "--run-dir", str(run), "--no-progress"])
        == 0
    )
    a, b = eval_runs.evaluate_run(run, 3), eval_runs.evaluate_run(run, 3)
    assert a == b and (a["algo"], a["env"], a["step"], a["episodes"]) == ("ppo", "CartPole-v1", 1024, 3)
    assert 8 <= a["mean"] <= 500  # CartPole episodes last 8 to 500 steps, reward 1 per step
    assert eval_runs.main([str(run), "--episodes", "3", "--out", str(tmp_path / "ev")]) == 0
    rows = list(csv.DictReader((tmp_path / "ev.csv").open()))
    assert len(rows) == 1 and float(rows[0]["mean"]) == pytest.approx(a["mean"])


def test_categorical_numpy_sampler_draws_the_actions_of_sample():
    """The all-CPU collection path's sampler (numpy MLP, torch's multinomial draw) gives `sample`'s actions
    and its log-probs within float tolerance, from the same generator state; a subclass with its own
    `sample` keeps it (MultiCategoricalActor)."""
    from rlmeta.core.networks import MultiCategoricalActor

    pi = CategoricalActor(4, 3, (16, 16), ortho_init=True)
    obs = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(7)
    with torch.no_grad():
        a, logp = pi.sample(obs)
    torch.manual_seed(7)
    a2, logp2 = pi.numpy_sampler()(obs.numpy())
    assert a2.dtype == np.float32 and a2.shape == (64, 1) and logp2.shape == (64,)
    np.testing.assert_array_equal(a2, a.numpy())
    np.testing.assert_allclose(logp2, logp.numpy(), rtol=1e-5, atol=1e-6)
    multi = MultiCategoricalActor(4, (3, 2), (16,))
    torch.manual_seed(3)
    with torch.no_grad():
        m, mlogp = multi.sample(obs)
    torch.manual_seed(3)
    m2, mlogp2 = multi.numpy_sampler()(obs.numpy())
    np.testing.assert_array_equal(m2, m.numpy())
    np.testing.assert_array_equal(mlogp2, mlogp.numpy())
