"""PPO on Atari Breakout on one GPU: the `atari` preset (CleanRL's ppo_atari.py settings, envs/atari.py's
preprocessing on ALE's native vector env) with the Nature CNN on the GPU, trained for a wall-clock budget.

The check: 10M env steps within 10 minutes on one GPU, and the training return at the end against
CleanRL's published ppo_atari.py return at 10M (414.66 +- 28.09 on BreakoutNoFrameskip-v4,
benchmarks/reference/cleanrl/README.md). CleanRL steps 8 envs; 10M steps in 10 minutes needs about
17k env-steps/s, so the default here is 64 envs x 128 steps (a batch of 8192, 4 minibatches of 2048):
a larger batch than CleanRL's 1024, the same epochs, clip, entropy and annealed learning rate, the
annealing over --total-steps. Pixels reach the GPU as uint8, once per step, and are scaled there.

On a GPU machine (ale-py installed; within one 10-minute call):
    python benchmarks/gpu_atari.py --out benchmarks/results/gpu_atari
    python benchmarks/gpu_atari.py --encoder-precision bf16 --out benchmarks/results/gpu_atari_bf16
Tiny, on a CPU (the test suite runs this):
    python benchmarks/gpu_atari.py --device cpu --num-envs 2 --num-steps 16 --max-iters 2 --out /tmp/gpu_atari

Writes gpu_atari.md (machine, command, steps reached, env-steps/s, return against CleanRL's),
gpu_atari.csv (one row per iteration: wall time, env steps, training return, env-steps/s) and
gpu_atari.png (training return against env steps and against wall time).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line, reference

COLUMNS = ("wall_s", "global_step", "charts/episodic_return", "charts/SPS")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="folder for gpu_atari.md, .csv and .png")
    p.add_argument("--env", default="BreakoutNoFrameskip-v4", help="Atari id (ALE's v4 NoFrameskip or ALE/...-v5)")
    p.add_argument("--device", default="cuda", help="torch device of the CNN and the update")
    p.add_argument("--num-envs", type=int, default=64, help="emulators stepped together (CleanRL: 8)")
    p.add_argument("--num-steps", type=int, default=128, help="steps per env per iteration (CleanRL: 128)")
    p.add_argument("--total-steps", type=int, default=10_000_000, help="env steps (the lr anneals over them)")
    p.add_argument("--budget-s", type=float, default=540.0, help="wall seconds of training, start-up included")
    p.add_argument("--max-iters", type=int, default=0, help="stop after this many iterations (0: no limit)")
    p.add_argument("--seed", type=int, default=0, help="seed of the agent and the emulators")
    p.add_argument("--compile", action="store_true", help="the update through torch.compile / CUDA graphs")
    p.add_argument(
        "--encoder-precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="compute dtype of the Nature CNN (bf16: autocast, the rest float32; see the atari-bf16 suite)",
    )
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    import torch

    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.app.runner import build_agent

    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    cfg = PPOConfig.presets()["atari"].replace(
        env=args.env,
        device=args.device,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_steps=args.total_steps,
        seed=args.seed,
        compile=args.compile,
        encoder_precision=args.encoder_precision,
        progress=False,
        torch_threads=0,
    )
    agent = build_agent("ppo", cfg)
    start_up = time.perf_counter() - t0
    rows: list[dict] = []
    try:
        while agent.global_step < args.total_steps and time.perf_counter() - t0 < args.budget_s:
            t1, s1 = time.perf_counter(), agent.global_step
            metrics = agent.iteration()
            now = time.perf_counter()
            rows.append(
                {
                    "wall_s": now - t0,
                    "global_step": agent.global_step,
                    "charts/episodic_return": metrics.get("charts/episodic_return", float("nan")),
                    "charts/SPS": (agent.global_step - s1) / max(now - t1, 1e-9),
                }
            )
            if len(rows) % 20 == 0:
                r = rows[-1]
                print(
                    f"{r['wall_s']:.0f} s: {r['global_step']:,} steps, return {r['charts/episodic_return']:.1f}, "
                    f"{r['charts/SPS']:,.0f} env-steps/s",
                    flush=True,
                )
            if args.max_iters and len(rows) >= args.max_iters:
                break
    finally:
        agent.envs.close()
    wall = time.perf_counter() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "gpu_atari.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    steps = rows[-1]["global_step"] if rows else 0
    sps = statistics.median(r["charts/SPS"] for r in rows) if rows else float("nan")
    rets = [
        r["charts/episodic_return"] for r in rows[-10:] if r["charts/episodic_return"] == r["charts/episodic_return"]
    ]
    final = statistics.mean(rets) if rets else float("nan")
    ref = reference("ppo", args.env)
    ref_line = (
        f"{ref.mean[-1]:.2f} +- {ref.std[-1]:.2f} at {int(ref.steps[-1]):,} steps ({ref.source})" if ref else "none"
    )
    cmd = "python benchmarks/gpu_atari.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    md = [
        f"# PPO on {args.env}, one device",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}. `atari` preset with {args.num_envs} envs x {args.num_steps} steps, "
        f"device {args.device}{', --compile' if args.compile else ''}, encoder {args.encoder_precision}, "
        f"seed {args.seed}. Return: the mean true "
        "(unclipped, whole-game) return of the training episodes that ended in an iteration, averaged over the "
        "last 10 iterations.",
        "",
        "| what | value |",
        "|---|---:|",
        f"| env steps reached | {steps:,} |",
        f"| wall time (start-up included) | {wall:.0f} s |",
        f"| start-up (envs, networks) | {start_up:.1f} s |",
        f"| env-steps/s (median over iterations) | {sps:,.0f} |",
        f"| training return at the end | {final:.1f} |",
        f"| CleanRL ppo_atari.py (published) | {ref_line} |",
        "",
        "![return](gpu_atari.png)",
        "",
    ]
    (args.out / "gpu_atari.md").write_text("\n".join(md))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    xs = [r["global_step"] for r in rows]
    ys = [r["charts/episodic_return"] for r in rows]
    a1.plot(xs, ys, lw=1.2, label="rlmeta PPO (training episodes)")
    a2.plot([r["wall_s"] for r in rows], ys, lw=1.2)
    if ref is not None:
        a1.errorbar(
            ref.steps,
            ref.mean,
            yerr=ref.std,
            marker="D",
            color="C1",
            capsize=4,
            ls="none",
            label=f"{ref.source}, published",
        )
        a1.legend(fontsize=8)
    a1.set_xlabel("env steps")
    a2.set_xlabel("wall seconds")
    for a in (a1, a2):
        a.set_ylabel("episode return")
        a.grid(alpha=0.3)
    fig.suptitle(f"PPO {args.env} on {args.device}")
    fig.tight_layout()
    fig.savefig(args.out / "gpu_atari.png")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
