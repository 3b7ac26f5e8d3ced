"""Tutorial: train on your own gymnasium environment (docs/tutorials/own-env.md).

An env registered with `gymnasium.register` in your module is an env id like any other once the
module is imported: from Python, import it and call `train`; from the command line, name an agent
class of your module (`own_env:PPO`), which imports the module, and so registers the env, before
the env id is looked up.

    python examples/own_env.py                                      # PPO, 50k steps
    python examples/own_env.py --total-steps 2048 --run-dir runs/reach-demo      # seconds
    cd examples && rlmeta train own_env:PPO --env rlmeta_examples/Reach-v0 --total-steps 20000
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig  # noqa: F401 (PPO: the agent the CLI line names)
from rlmeta.app.runner import train

ENV_ID = "rlmeta_examples/Reach-v0"


class Reach(gym.Env):
    """A point on a line moves toward a random target: obs (position, target) [2], action a velocity
    in [-1, 1] [1], reward -|position - target|, 50 steps per episode (a time limit: truncation)."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)  # seeds self.np_random: rlmeta seeds every sub-env
        self.pos = 0.0
        self.target = float(self.np_random.uniform(-1.0, 1.0))
        return self._obs(), {}

    def step(self, action):
        self.pos = float(np.clip(self.pos + 0.1 * float(np.clip(action[0], -1, 1)), -2.0, 2.0))
        reward = -abs(self.pos - self.target)
        return self._obs(), reward, False, False, {}  # never terminates; the TimeLimit truncates

    def _obs(self) -> np.ndarray:
        return np.array([self.pos, self.target], np.float32)


if ENV_ID not in gym.registry:  # importing the module twice must not register twice
    gym.register(ENV_ID, entry_point=Reach, max_episode_steps=50)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--total-steps", type=int, default=50_000)
    p.add_argument("--run-dir", default="runs/ppo-reach")
    a = p.parse_args(argv)
    # Spinning Up's PPO settings; 4 envs x 512 steps per iteration
    cfg = PPOConfig.presets()["spinningup"].replace(
        env=ENV_ID, num_envs=4, num_steps=512, total_steps=a.total_steps, run_dir=a.run_dir, progress=False
    )
    return train("ppo", cfg)


if __name__ == "__main__":
    main()
