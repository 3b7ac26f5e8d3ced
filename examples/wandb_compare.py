"""Tutorial: compare a variant with its baseline in Weights & Biases (docs/tutorials/wandb.md).

Trains the baseline (PPO) and the variant (PPO with the action-L2 loss of examples/loss_term.py) on
the same seeds. Each run is one W&B run; the runs of one setting share a *group* (the W&B workspace
draws a group as its seed mean with a band), and the tags say which arm and which experiment a run
belongs to. `--wandb offline` needs no account or network: runs are written under
RUN_DIR/wandb/offline-run-* and uploaded later with `wandb sync`.

    python examples/wandb_compare.py                                     # 2 arms x 3 seeds x 100k steps
    python examples/wandb_compare.py --seeds 2 --total-steps 2048 --out runs/wb-demo   # seconds
    wandb sync runs/wandb-compare/*/wandb/offline-run-*                   # later, with an API key
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loss_term import PPOWithL2  # noqa: F401 (registers "ppo-l2")

from rlmeta.agents.onpolicy.ppo import PPOConfig
from rlmeta.app.runner import train

ARMS = {"baseline": "ppo", "l2": "ppo-l2"}  # arm -> registered algo


def main(argv: list[str] | None = None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--total-steps", type=int, default=100_000)
    p.add_argument("--num-steps", type=int, default=2048)
    p.add_argument("--wandb", choices=("offline", "online"), default="offline")
    p.add_argument("--project", default="rlmeta-tutorial")
    p.add_argument("--experiment", default="action-l2", help="a tag shared by both arms: filter the workspace by it")
    p.add_argument("--out", default="runs/wandb-compare")
    a = p.parse_args(argv)
    run_dirs = []
    for arm, algo in ARMS.items():
        for seed in range(a.seeds):
            cfg = PPOConfig(
                env=a.env,
                total_steps=a.total_steps,
                num_steps=a.num_steps,
                seed=seed,
                progress=False,
                run_dir=f"{a.out}/{arm}-s{seed}",
                wandb=a.wandb,
                wandb_project=a.project,
                wandb_group=f"{arm}-{a.env}",  # one curve per arm in "Group by: Group"
                wandb_name=f"{arm}-{a.env}-s{seed}",
                wandb_tags=(f"exp:{a.experiment}", f"arm:{arm}"),
            )
            run_dirs.append(train(algo, cfg))
    if a.wandb == "offline":
        print(f"offline runs written; upload them with:\n  wandb sync {a.out}/*/wandb/offline-run-*")
    return run_dirs


if __name__ == "__main__":
    main()
