"""GAE against hand-computed numbers, and the collector's bootstrap across autoreset boundaries."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlmeta.core.buffers import compute_gae
from rlmeta.core.rollout import OnPolicyCollector
from rlmeta.core.vec_env import VecEnv
from rlmeta.envs.gym_backend import GymBackend


def test_gae_hand_computed():
    # one env, T=3, gamma=0.5, lambda=0.5; episode ends (done) after step 1
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [2.0]])
    d = torch.tensor([[0.0], [1.0], [0.0]])
    last_v = torch.tensor([4.0])
    adv, ret = compute_gae(r, v, d, last_v, gamma=0.5, lam=0.5)
    # delta_2 = 3 + 0.5*4 - 2 = 3;            A_2 = 3
    # delta_1 = 2 + 0 - 1 = 1 (done);          A_1 = 1
    # delta_0 = 1 + 0.5*1.0 - 0.5 = 1;         A_0 = 1 + 0.25*1 = 1.25
    assert adv.squeeze(1).tolist() == pytest.approx([1.25, 1.0, 3.0])
    assert ret.squeeze(1).tolist() == pytest.approx([1.75, 2.0, 5.0])


def test_gae_lambda_one_is_discounted_return_minus_value():
    g = 0.9
    r = torch.rand(6, 2)
    v = torch.rand(6, 2)
    d = torch.zeros(6, 2)
    last_v = torch.rand(2)
    adv, _ = compute_gae(r, v, d, last_v, gamma=g, lam=1.0)
    for n in range(2):
        G = last_v[n].item()
        for t in reversed(range(6)):
            G = r[t, n].item() + g * G
            assert adv[t, n].item() == pytest.approx(G - v[t, n].item(), rel=1e-5)


class Scripted(gym.Env):
    """obs = [step in episode]; reward = 1 + step; terminates after `term_at` steps (if set)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, term_at=None):
        self.term_at = term_at

    def reset(self, seed=None, options=None):
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, a):
        self.t += 1
        term = self.term_at is not None and self.t >= self.term_at
        return np.array([float(self.t)], np.float32), float(self.t), term, False, {}


def test_collector_bootstraps_truncation_not_termination():
    gym.register("RLMetaScriptedTrunc-v0", entry_point=lambda: Scripted(None), max_episode_steps=2)
    gym.register("RLMetaScriptedTerm-v0", entry_point=lambda: Scripted(2), max_episode_steps=100)
    gamma, lam = 0.5, 1.0
    # sub-env 0 is truncated at t=2, sub-env 1 terminates at t=2; T=3 crosses the autoreset
    backend = GymBackend("RLMetaScriptedTrunc-v0", 1)
    backend2 = GymBackend("RLMetaScriptedTerm-v0", 1)

    class Pair:
        num_envs = 2
        single_observation_space = backend.single_observation_space
        single_action_space = backend.single_action_space

        def reset(self, seed):
            return np.concatenate([backend.reset(seed), backend2.reset(seed)])

        def step(self, a):
            o1, o2 = backend.step(a[:1]), backend2.step(a[1:])
            return tuple(np.concatenate([x, y]) for x, y in zip(o1, o2))

        def close(self):
            pass

    envs = VecEnv(Pair())
    col = OnPolicyCollector(envs, steps_per_env=3, device=torch.device("cpu"), gamma=gamma)

    def value(obs):  # V(s) = 10 t + 1
        return 10.0 * obs[:, 0] + 1.0

    def policy(obs):  # numpy path
        return np.zeros((obs.shape[0], 1), np.float32), np.zeros(obs.shape[0], np.float32)

    b = col.collect(policy, value, lam)
    buf = col.buffer
    # rewards: t=1,2 then reset -> 1; truncated step (env 0, index 1) gets + gamma * V(final_obs=[2]) = 0.5*21
    assert buf.rewards[:, 0].tolist() == pytest.approx([1.0, 2.0 + 0.5 * 21.0, 1.0])
    assert buf.rewards[:, 1].tolist() == pytest.approx([1.0, 2.0, 1.0])  # terminated: no bootstrap
    assert buf.dones.tolist() == [[0, 0], [1, 1], [0, 0]]
    # obs after the reset is [0] again: values [1, 11, 1]; last obs is [1] -> V = 11
    adv = b.advantages.reshape(3, 2)
    # env 0 (lambda=1): A_1 = 12.5 - 11 = 1.5; A_0 = 1 + 0.5 * 12.5 - 1 = 6.25; A_2 = 1 + 0.5*11 - 1 = 5.5
    assert adv[:, 0].tolist() == pytest.approx([6.25, 1.5, 5.5])
    # env 1: A_1 = 2 - 11 = -9; A_0 = 1 + 0.5*2 - 1 = 1; A_2 = 5.5
    assert adv[:, 1].tolist() == pytest.approx([1.0, -9.0, 5.5])


def test_gae_cpu_numpy_recursion_is_bitwise_the_tensor_loop():
    """compute_gae runs its recursion on numpy views on the CPU: the result equals, bit for bit, the
    torch loop it replaced (run here on a tensor subclass that keeps the torch path)."""
    g = torch.Generator().manual_seed(0)
    T, N = 300, 5
    r, v = torch.randn(T, N, generator=g) * 3, torch.randn(T, N, generator=g)
    d = (torch.rand(T, N, generator=g) < 0.05).float()
    last_v = torch.randn(N, generator=g)
    adv, ret = compute_gae(r, v, d, last_v, 0.99, 0.95)
    ref, next_adv, next_value = torch.zeros_like(r), torch.zeros_like(last_v), last_v  # the old loop
    for t in reversed(range(T)):
        not_done = 1.0 - d[t]
        delta = r[t] + 0.99 * next_value * not_done - v[t]
        next_adv = delta + 0.99 * 0.95 * not_done * next_adv
        ref[t] = next_adv
        next_value = v[t]
    assert torch.equal(adv, ref) and torch.equal(ret, ref + v) and adv.dtype == torch.float32
