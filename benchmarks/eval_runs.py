"""Deterministic test episodes of finished runs: each run's checkpointed policy acting greedily (the
Gaussian mean, the categorical argmax), on fresh envs seeded apart from training. The on-policy suites
log training-episode returns of the stochastic policy; this gives the number that evaluation tables
(rl-baselines3-zoo's benchmark, Spinning Up's test returns) report.

    python benchmarks/eval_runs.py RUNS/ppo-LunarLander-v3-s0 RUNS/ppo-LunarLander-v3-s1 --episodes 20 \\
        --out benchmarks/results/classic-control-lunar/deterministic_eval

Writes OUT.csv (one row per run: algo, env, seed, step, episodes, mean and std of the return) and OUT.md
(the mean over seeds of each (algo, env), then the rows).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line

EVAL_SEED = 10_000  # the off-policy agents' test envs start here too: seeds training never used


def evaluate_run(run_dir: Path, episodes: int) -> dict:
    """-> algo, env, seed, step, episodes, mean, std of `episodes` deterministic episodes of run_dir's policy."""
    from rlmeta.app.render import load_trained
    from rlmeta.core.evaluation import evaluate
    from rlmeta.envs import make_vec_env

    agent, cfg, ckpt = load_trained(run_dir, device="cpu", num_envs=1)
    try:
        envs = make_vec_env(cfg.env, num_envs=min(episodes, 10), seed=EVAL_SEED + 100 * cfg.seed)
        res = evaluate(lambda o: agent.act(o, True), envs, episodes=episodes, obs_stats_from=agent.envs)
        envs.close()
    finally:
        agent.envs.close()
    return {
        "algo": ckpt["algo"],
        "env": cfg.env,
        "seed": cfg.seed,
        "step": ckpt["global_step"],
        "episodes": episodes,
        "mean": res["charts/test_return"],
        "std": res["charts/test_return_std"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("runs", nargs="+", type=Path, help="run directories holding config.json and checkpoint.pt")
    p.add_argument("--episodes", type=int, default=20, help="test episodes per run")
    p.add_argument("--out", type=Path, required=True, help="output path without suffix (.md, .csv)")
    args = p.parse_args(argv)
    rows = [evaluate_run(r, args.episodes) for r in args.runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.with_suffix(".csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["algo"], r["env"]), []).append(r["mean"])
    md = [
        f"# Deterministic test episodes of {len(rows)} run(s)",
        "",
        f"Command: `python benchmarks/eval_runs.py RUNS... --episodes {args.episodes}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}. Each run's final checkpoint, acting greedily on fresh envs "
        f"(seeds from {EVAL_SEED} + 100 x run seed), {args.episodes} whole episodes per run; raw returns.",
        "",
        "| algo | env | seeds | return (mean +- population std over seeds) |",
        "|---|---|---:|---:|",
        *[
            f"| {a} | {e} | {len(m)} | {statistics.mean(m):.1f} +- {statistics.pstdev(m):.1f} |"
            for (a, e), m in groups.items()
        ],
        "",
        "| algo | env | seed | step | return (mean +- std over episodes) |",
        "|---|---|---:|---:|---:|",
        *[
            f"| {r['algo']} | {r['env']} | {r['seed']} | {r['step']:,} | {r['mean']:.1f} +- {r['std']:.1f} |"
            for r in rows
        ],
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
