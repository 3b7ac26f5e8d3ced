"""Tutorial: replace an agent's network through its build hooks (docs/tutorials/network.md).

Networks come from `build_actor` / `build_critic`, which the agent calls before it makes its
optimizers, target networks and executors: the optimizers step your network and every path
(eager, `--compile`, CUDA graphs, `--seeds`) runs it.

    python examples/network_hooks.py                                # Hopper-v5, 100k steps
    python examples/network_hooks.py --total-steps 4096 --run-dir runs/ln-demo   # seconds
    cd examples && rlmeta train network_hooks:LayerNormPPO --env Hopper-v5 --total-steps 4096
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig
from rlmeta.app.registry import register
from rlmeta.app.runner import train
from rlmeta.core.networks import Critic, GaussianActor


class LayerNormPPO(PPO):
    """PPO whose policy mean has a LayerNorm after its hidden layer, and a wider critic."""

    def build_actor(self, obs_dim: int, act_dim: int) -> nn.Module:
        actor = GaussianActor(obs_dim, act_dim, (64, 64), "tanh", self.cfg.log_std_init)
        # GaussianActor keeps its state-independent log-std; only the mean network is swapped
        actor.mu = nn.Sequential(nn.Linear(obs_dim, 64), nn.LayerNorm(64), nn.Tanh(), nn.Linear(64, act_dim))
        return actor

    def build_critic(self, obs_dim: int) -> nn.Module:
        return Critic(obs_dim, (256, 256), "tanh")


register("layernorm-ppo", LayerNormPPO)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--total-steps", type=int, default=100_000)
    p.add_argument("--num-steps", type=int, default=2048, help="steps per iteration (PPO's batch)")
    p.add_argument("--run-dir", default="runs/layernorm-ppo")
    a = p.parse_args(argv)
    cfg = PPOConfig(env=a.env, total_steps=a.total_steps, num_steps=a.num_steps, run_dir=a.run_dir, progress=False)
    return train("layernorm-ppo", cfg)


if __name__ == "__main__":
    main()
