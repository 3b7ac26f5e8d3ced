"""gymnasium.vector backends (sync or async) with SAME_STEP autoreset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode


class GymBackend:
    """Wraps `gymnasium.vector.{Sync,Async}VectorEnv` in SAME_STEP autoreset mode.

    On 2 cores SyncVectorEnv beats AsyncVectorEnv for MuJoCo (pipe overhead > physics time);
    async pays off for slow envs or many cores.
    """

    def __init__(self, env_id: str, num_envs: int, asynchronous: bool = False, **make_kwargs):
        fns = [lambda: gym.make(env_id, **make_kwargs) for _ in range(num_envs)]
        cls = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
        self.env = cls(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        self.num_envs = num_envs
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=[seed + i for i in range(self.num_envs)])
        self.env.action_space.seed(seed)
        return obs

    def step(self, actions: np.ndarray):
        obs, reward, term, trunc, info = self.env.step(actions)
        final_obs = obs.copy()
        if "final_obs" in info:
            mask = info["_final_obs"]
            final_obs[mask] = np.stack(info["final_obs"][mask])
        return obs, reward, term, trunc, final_obs

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict | None:
        """The simulator state of every sub-env, for envs that keep it as a numpy `state` (gymnasium's
        classic control: CartPole, Acrobot, MountainCar, Pendulum): the state, the env's RNG, the time
        limit's step count and CartPole's terminal bookkeeping, so a resumed run continues the same
        episodes bit for bit. None for other envs (a resumed run then starts new episodes)."""
        envs = getattr(self.env, "envs", None)  # SyncVectorEnv: the envs live in this process
        if envs is None or not all(isinstance(getattr(e.unwrapped, "state", None), np.ndarray) for e in envs):
            return None
        out = []
        for e in envs:
            u = e.unwrapped
            sbt = getattr(u, "steps_beyond_terminated", None)
            out.append(
                {
                    "state": np.array(u.state, copy=True),
                    "rng": u.np_random.bit_generator.state,
                    "elapsed": int(getattr(_time_limit(e), "_elapsed_steps", 0) or 0),
                    "steps_beyond_terminated": -1 if sbt is None else int(sbt),
                }
            )
        return {"envs": out}

    def load_state_dict(self, d: dict) -> None:
        for e, s in zip(self.env.envs, d["envs"]):
            u = e.unwrapped
            u.state = np.array(s["state"], copy=True)
            u.np_random.bit_generator.state = s["rng"]
            if hasattr(u, "steps_beyond_terminated"):
                u.steps_beyond_terminated = None if s["steps_beyond_terminated"] < 0 else s["steps_beyond_terminated"]
            w = e
            while w is not None:  # the wrappers that insist on a reset first (OrderEnforcing) saw one
                if hasattr(w, "_has_reset"):
                    w._has_reset = True
                if hasattr(w, "checked_data_reuse"):  # the passive checker's first-steps check wants its reset
                    w.checked_reset = w.checked_step = w.checked_data_reuse = True
                if isinstance(w, gym.wrappers.TimeLimit):
                    w._elapsed_steps = s["elapsed"]
                w = getattr(w, "env", None)

    def close(self) -> None:
        self.env.close()


def _time_limit(env: gym.Env):
    w = env
    while w is not None:
        if isinstance(w, gym.wrappers.TimeLimit):
            return w
        w = getattr(w, "env", None)
    return None
