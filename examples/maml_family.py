"""Tutorial: add a MAML task family (docs/tutorials/maml-family.md).

A meta-RL task family is a `MetaVecEnv`: a batch of sub-envs, each running its own task, with a
task distribution (`sample_tasks`), fixed-horizon episodes started together, and numpy arrays in
and out. Registered in `rlmeta.envs.meta.FAMILIES`, it trains with the meta-RL trainer (MAML with a
TRPO or ProMP outer update, FOMAML, Meta-SGD, ANIL) through the same run loop as
`rlmeta meta-train` (checkpoints, resume, progress.csv, eval.json).

The family here: a point on a line must reach a goal position drawn from U[-1, 1]; one gradient
step on a few rollouts should find the goal's side and distance.

    python examples/maml_family.py                                       # 60 meta-iterations of 20 tasks
    python examples/maml_family.py --meta-iterations 2 --meta-batch 2 --rollouts 2 --run-dir runs/maml-demo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rlmeta.agents.maml.rl import MetaRLConfig, MetaRLTrainer
from rlmeta.app.meta_run import run_meta_training
from rlmeta.envs.meta import FAMILIES, MetaVecEnv


class LineGoal(MetaVecEnv):
    """obs: position [1]; action: a step, clipped to [-0.2, 0.2] [1]; reward: -|position - goal|.
    Task: the goal [1] ~ U[-1, 1]. Horizon 20; episodes never end early."""

    obs_dim, act_dim, task_dim = 1, 1, 1
    act_low, act_high = np.full(1, -0.2), np.full(1, 0.2)
    horizon = 20  # the trainer's default rollout length for this family

    def __init__(self, num_envs: int):
        super().__init__(num_envs)
        self.pos = np.zeros((num_envs, 1))

    @staticmethod
    def sample_tasks(n: int, rng: np.random.Generator) -> np.ndarray:  # [n, task_dim]
        return rng.uniform(-1.0, 1.0, size=(n, 1))

    def reset(self, seed: int) -> np.ndarray:  # -> obs [N, obs_dim]
        self.pos[:] = 0.0
        return self.pos.copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.pos += self.clip(actions)  # clip(): the action box, as the built-in families
        reward = -np.abs(self.pos - self._tasks)[:, 0]  # [N]
        done = np.zeros(self.num_envs, bool)  # fixed horizon: the sampler stops at `horizon`
        return self.pos.copy(), reward, done


# "module:Class", imported when the trainer builds its envs (this module, or __main__ as a script)
FAMILIES["line-goal"] = f"{__name__}:LineGoal"


def make_trainer(cfg: MetaRLConfig) -> MetaRLTrainer:
    return MetaRLTrainer(cfg)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--meta-iterations", type=int, default=60)
    p.add_argument("--meta-batch", type=int, default=20, help="tasks per meta-update")
    p.add_argument("--rollouts", type=int, default=10, help="rollouts per task and inner step")
    p.add_argument("--eval-tasks", type=int, default=20)
    p.add_argument("--outer", choices=("trpo", "promp"), default="trpo")
    p.add_argument("--run-dir", default="runs/maml-line-goal")
    a = p.parse_args(argv)
    cfg = MetaRLConfig(
        env="line-goal",
        meta_iterations=a.meta_iterations,
        meta_batch=a.meta_batch,
        rollouts_per_task=a.rollouts,
        hidden_sizes=(32, 32),
        outer=a.outer,
        eval_tasks=a.eval_tasks,
        eval_rollouts=a.rollouts,
        eval_steps=2,
        run_dir=a.run_dir,
        progress=False,
    )
    run_dir = run_meta_training("maml", cfg, make_trainer)
    result = json.loads((run_dir / "eval.json").read_text())
    print(json.dumps(result.get("return_after_steps", result), indent=1))
    return run_dir


if __name__ == "__main__":
    main()
