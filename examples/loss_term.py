"""Tutorial: add a loss term to an agent (docs/tutorials/loss-term.md).

Every agent has `extra_losses`: callables `(agent, batch) -> (loss, metrics)` added to its main loss
(the policy loss of VPG/TRPO/PPO, the actor loss of DDPG/TD3/SAC). A subclass that appends one is a
new algorithm; registered under a name, `rlmeta.app.runner.train` trains it with every feature of
the built-in agents (checkpoints, resume, progress.csv, W&B).

    python examples/loss_term.py                                   # Hopper-v5, 100k steps
    python examples/loss_term.py --total-steps 4096 --run-dir runs/ppo-l2-demo    # seconds
    cd examples && rlmeta train loss_term:PPOWithL2 --env Hopper-v5 --total-steps 4096   # the CLI, all flags
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlmeta.agents.onpolicy.ppo import PPO, PPOConfig
from rlmeta.app.registry import register
from rlmeta.app.runner import train


def action_l2(agent, batch):
    """Keep the policy's mean action small. batch.obs [B, obs_dim] -> (loss, metrics)."""
    mean, _ = agent.actor(batch.obs)  # [B, act_dim]
    loss = 1e-3 * mean.pow(2).sum(-1).mean()
    return loss, {"losses/action_l2": loss.detach()}


class PPOWithL2(PPO):
    """PPO plus an L2 penalty on the policy's mean action."""

    def __init__(self, cfg, envs, device):
        super().__init__(cfg, envs, device)
        self.extra_losses.append(action_l2)


register("ppo-l2", PPOWithL2)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--total-steps", type=int, default=100_000)
    p.add_argument("--num-steps", type=int, default=2048, help="steps per iteration (PPO's batch)")
    p.add_argument("--run-dir", default="runs/ppo-l2")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    cfg = PPOConfig(
        env=a.env, total_steps=a.total_steps, num_steps=a.num_steps, seed=a.seed, run_dir=a.run_dir, progress=False
    )
    run_dir = train("ppo-l2", cfg)
    print(f"losses/action_l2 is a column of {run_dir / 'progress.csv'}")
    return run_dir


if __name__ == "__main__":
    main()
