"""PPO training throughput on HalfCheetah-v5: rlmeta vs Stable-Baselines3, side by side, plus the
physics limit of this machine (mujoco.rollout with threads, no policy, no learning).

Both libraries train PPO with the same settings (CleanRL / SB3 defaults: batch 2048, 10 epochs of
minibatch 64, 64x64 tanh, obs + reward normalisation, torch on 1 thread). Each is built once in this
process (rlmeta twice: default and --compile) and timed over whole iterations (collect + update) in
alternating blocks after one warm-up iteration, so background load hits both alike; the report gives the median per-round ratio and its
range.

Run:
    .venv/bin/python benchmarks/ppo_throughput.py            # writes benchmarks/results/ppo_throughput.{md,png}
    .venv/bin/python benchmarks/ppo_throughput.py --rounds 3 --envs 1   # quick look
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line
from rlmeta.benchmarks.timing import AgentTimer

RESULTS = Path(__file__).parent / "results"
ENV = "HalfCheetah-v5"


class RlmetaPPO(AgentTimer):
    """rlmeta PPO, cleanrl preset (num_steps chosen so the batch stays 2048), built once."""

    def __init__(self, num_envs: int, compile: bool = False):
        from rlmeta.agents.onpolicy.ppo import PPOConfig

        super().__init__(
            "ppo",
            PPOConfig.presets()["cleanrl"].replace(
                env=ENV,
                num_envs=num_envs,
                num_steps=2048 // num_envs,
                total_steps=10**12,
                progress=False,
                env_threads=2,
                compile=compile,
            ),
        )


class SB3PPO:
    """stable-baselines3 PPO with its defaults (= the same settings) and VecNormalize, built once."""

    def __init__(self, num_envs: int):
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import VecNormalize

        self.venv = VecNormalize(make_vec_env(ENV, n_envs=num_envs, seed=0))
        self.model = PPO(
            "MlpPolicy", self.venv, n_steps=2048 // num_envs, batch_size=64, n_epochs=10, device="cpu", seed=0
        )

    def block(self, iterations: int) -> float:
        t0 = time.perf_counter()
        self.model.learn(total_timesteps=2048 * iterations, reset_num_timesteps=False)
        return 2048 * iterations / (time.perf_counter() - t0)

    def close(self) -> None:
        self.venv.close()


VARIANTS = ("rlmeta", "rlmeta --compile", "SB3")


def side_by_side(num_envs: int, rounds: int, iterations: int) -> tuple[dict[str, list[float]], float]:
    """rlmeta (default, eager), rlmeta with --compile and SB3, each built once in this process and
    warmed up with one iteration (the compile variant compiles there), then `rounds` rounds of one
    block of `iterations` iterations each, in turn: load on the machine hits all alike.
    -> ({variant: env-steps/s per round}, seconds of the compile variant's warm-up iteration)"""
    runners = {
        "rlmeta": RlmetaPPO(num_envs),
        "rlmeta --compile": RlmetaPPO(num_envs, compile=True),
        "SB3": SB3PPO(num_envs),
    }
    try:
        warmup = {}
        for name, runner in runners.items():
            t0 = time.perf_counter()
            runner.block(1)
            warmup[name] = time.perf_counter() - t0
        sps: dict[str, list[float]] = {name: [] for name in runners}
        for r in range(rounds):
            for name, runner in runners.items():
                sps[name].append(runner.block(iterations))
            print(
                f"{num_envs} env(s) round {r}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in sps.items()) + " steps/s",
                flush=True,
            )
        return sps, warmup["rlmeta --compile"]
    finally:
        for runner in runners.values():
            runner.close()


def env_stepping(backend: str, num_envs: int, nstep: int = 500) -> float:
    """env-steps/s of rlmeta's VecEnv alone (random actions, autoresets, episode stats; no policy)."""
    from rlmeta.envs import make_vec_env

    envs = make_vec_env(ENV, num_envs, seed=0, backend=backend, threads=2)
    envs.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (nstep, num_envs, envs.single_action_space.shape[0]))
    envs.step(actions[0])  # warm-up
    t0 = time.perf_counter()
    for a in actions:
        envs.step(a)
    sps = nstep * num_envs / (time.perf_counter() - t0)
    envs.close()
    return sps


def physics_limit(num_envs: int = 16, nstep: int = 1000, threads: int = 2) -> float:
    """env-steps/s of mujoco.rollout (frame_skip physics steps per env step), random controls."""
    from rlmeta.benchmarks.gpu_throughput import rollout_rate

    return rollout_rate(ENV, num_envs, nstep, threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=1, help="PPO iterations of 2048 steps per block")
    p.add_argument("--rounds", type=int, default=10, help="alternating blocks per library; medians are reported")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 16], help="numbers of parallel envs to measure")
    p.add_argument("--note", default="", help="free text for the report (e.g. other load on the machine)")
    p.add_argument("--out", type=Path, default=RESULTS / "ppo_throughput")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = {n: side_by_side(n, args.rounds, args.iterations) for n in args.envs}
    physics = statistics.median(physics_limit() for _ in range(3))
    stepping = {
        "env stepping only: rlmeta batched MuJoCo, 16 envs, 2 threads": statistics.median(
            env_stepping("mujoco", 16) for _ in range(3)
        ),
        "env stepping only: gymnasium, 1 env": statistics.median(env_stepping("sync", 1, 4000) for _ in range(3)),
    }

    cmd = "python benchmarks/ppo_throughput.py " + " ".join(sys.argv[1:])
    lines = [
        "# PPO training throughput: rlmeta vs Stable-Baselines3 (HalfCheetah-v5)",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}. rlmeta (default), rlmeta with `--compile` and SB3 are each "
        f"built once in one process; after one warm-up iteration each they run {args.rounds} rounds of one "
        f"block of {args.iterations} iteration(s) x 2048 steps each, in turn, so background load hits all "
        "alike; the ratio to SB3 is taken per round and its median reported with the range. Torch on 1 thread "
        "for all.",
        "",
    ]
    if args.note:
        lines += [f"Note: {args.note}", ""]
    lines += [
        "Same PPO settings on both sides (batch 2048, 10 epochs x minibatch 64, 64x64 tanh, orthogonal init, "
        "GAE 0.95/0.99, obs and reward normalisation, clip 0.2, grad norm 0.5). Env-steps/s include collection "
        "and updates.",
        "",
        "| envs | library | env-steps/s (median) | vs SB3 per round: median | min-max |",
        "|---:|---|---:|---:|---|",
    ]
    ratios = {}
    for n, (sps, _) in rows.items():
        for name in VARIANTS:
            if name == "SB3":
                lines.append(f"| {n} | SB3 | {statistics.median(sps[name]):,.0f} | | |")
                continue
            r = [x / y for x, y in zip(sps[name], sps["SB3"])]
            ratios[(n, name)] = r
            lines.append(
                f"| {n} | {name} | {statistics.median(sps[name]):,.0f} | **{statistics.median(r):.2f}x** | "
                f"{min(r):.2f}-{max(r):.2f} |"
            )
    lines += [
        "",
        "`--compile` (rlmeta/core/optim.py `Gradients`): each minibatch's forward and backward of both networks as "
        "one torch.compile'd graph of torch.func.grad, and the two Adam steps as another. Its one-off compile "
        "cost, in the warm-up iteration (collection and update included): "
        + ", ".join(f"{w:.1f} s ({n} env(s))" for n, (_, w) in rows.items())
        + "; Inductor caches it on disk for the next "
        "process. The default path is eager, bitwise the earlier code's updates.",
    ]
    lines += ["", "| reference | env-steps/s |", "|---|---:|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in stepping.items()]
    lines += [
        f"| physics only: mujoco.rollout, 16 envs, 2 threads | {physics:,.0f} |",
        "",
        f"![throughput]({args.out.name}.png)",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    for n, (sps, _) in rows.items():
        for name, style in zip(VARIANTS, ("o-", "^-", "s--")):
            axes[0].plot(sps[name], style, label=f"{name}, {n} env(s)")
    axes[0].set_xlabel("round")
    axes[0].set_ylabel("env-steps/s")
    axes[0].legend(fontsize=7)
    axes[0].set_title("alternating blocks")
    axes[1].boxplot(
        list(ratios.values()), tick_labels=[f"{name.replace('rlmeta ', '')}\n{n} env(s)" for n, name in ratios]
    )
    axes[1].axhline(1.0, color="gray", lw=0.8)
    axes[1].set_ylabel("rlmeta / SB3 (per round)")
    axes[1].set_title("PPO on HalfCheetah-v5 (CPU)")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
