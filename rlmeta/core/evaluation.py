"""Test-episode evaluation (Spinning Up's protocol): run `episodes` complete episodes with a given
(usually deterministic) policy on a separate vector env and report mean return and length.

Any agent can use it; off-policy agents call it every `eval_every` env steps (agents/offpolicy/base.py).
Each sub-env contributes its first ceil(episodes / num_envs) episodes, so with 10 envs and 10
episodes all ten run side by side and every policy call is one batched forward.

Example:
    >>> from rlmeta.envs import make_vec_env
    >>> eval_envs = make_vec_env("HalfCheetah-v5", num_envs=10, seed=10_000)
    >>> evaluate(lambda obs: agent.act(obs, deterministic=True), eval_envs, episodes=10, obs_stats_from=agent.envs)
    {'charts/test_return': 3120.4, 'charts/test_return_std': 80.2, 'charts/test_length': 1000.0}
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Union

import numpy as np

from rlmeta.core.vec_env import VecEnv

PolicyFn = Callable[[np.ndarray], np.ndarray]  # obs [N, obs_dim] (normalised like training) -> actions [N, act_dim]


def evaluate(
    policy_fn: PolicyFn,
    env_factory_or_envs: Union[VecEnv, Callable[[], VecEnv]],
    episodes: int = 10,
    obs_stats_from: VecEnv | None = None,
    max_steps: int = 1_000_000,
) -> dict[str, float]:
    """Run `episodes` test episodes; -> {'charts/test_return', 'charts/test_return_std', 'charts/test_length'}.

    env_factory_or_envs: a VecEnv (kept open, reset here) or a zero-argument factory (built and
    closed here). obs_stats_from: the training VecEnv whose observation-normalisation statistics
    the policy expects; they are copied in and frozen (eval episodes never update them).
    Returns are raw env rewards (never normalised). max_steps bounds a policy that never ends an episode.
    """
    own = not isinstance(env_factory_or_envs, VecEnv)
    envs: VecEnv = env_factory_or_envs() if own else env_factory_or_envs  # type: ignore[operator]
    saved = envs.normalize_reward, envs.training
    try:
        if obs_stats_from is not None and obs_stats_from.normalize_obs:
            envs.normalize_obs = True
            envs.obs_rms = copy.deepcopy(obs_stats_from.obs_rms)
        # raw rewards, frozen normaliser statistics (restored below for a caller-owned VecEnv)
        envs.normalize_reward, envs.training = False, False
        n = envs.num_envs
        per_env = -(-episodes // n)  # ceil
        counts = np.zeros(n, np.int64)  # finished episodes per sub-env
        done_eps: list[tuple[int, int, float, int]] = []  # (k-th episode of its env, env, return, length)
        ep_ret, ep_len = np.zeros(n), np.zeros(n, np.int64)
        obs = envs.reset()
        for _ in range(max_steps):
            out = envs.step(policy_fn(obs))
            # per-env bookkeeping (VecEnv's episode_returns do not say which sub-env ended)
            ep_len += 1
            # the game's own reward and end where the learner sees others (Atari: clipped, lives)
            ep_ret += out.reward if out.raw_reward is None else out.raw_reward
            ended = out.terminated | out.truncated if out.episode_over is None else out.episode_over
            for i in np.flatnonzero(ended):
                if counts[i] < per_env:
                    done_eps.append((int(counts[i]), int(i), float(ep_ret[i]), int(ep_len[i])))
                counts[i] += 1
                ep_ret[i], ep_len[i] = 0.0, 0
            if counts.min() >= per_env:
                break
            obs = out.obs
        # the first `episodes` in (round, env) order, not in finishing order: taking whichever
        # ended first would favour short episodes when episodes is not a multiple of num_envs
        done_eps = sorted(done_eps)[:episodes]
        returns = [e[2] for e in done_eps]
        lengths = [e[3] for e in done_eps]
    finally:
        envs.normalize_reward, envs.training = saved
        if own:
            envs.close()
    if not returns:
        return {}
    return {
        "charts/test_return": float(np.mean(returns)),
        "charts/test_return_std": float(np.std(returns)),
        "charts/test_length": float(np.mean(lengths)),
    }
