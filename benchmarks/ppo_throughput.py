"""PPO training throughput on HalfCheetah-v5: rlmeta vs Stable-Baselines3, side by side, plus the
physics limit of this machine (mujoco.rollout with threads, no policy, no learning).

Both libraries train PPO with the same settings (CleanRL / SB3 defaults: batch 2048, 10 epochs of
minibatch 64, 64x64 tanh, obs + reward normalisation, torch on 1 thread), timed over whole
iterations (collect + update) after one warm-up iteration; the configurations are interleaved over
`--repeats` rounds so background load hits all of them alike, and the median is reported.

Run:
    .venv/bin/python benchmarks/ppo_throughput.py            # writes benchmarks/results/ppo_throughput.{md,png}
    .venv/bin/python benchmarks/ppo_throughput.py --iterations 2 --repeats 1   # quick look
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

from benchmarks.report import machine_line  # noqa: E402

RESULTS = Path(__file__).parent / "results"
ENV = "HalfCheetah-v5"


def rlmeta_ppo(num_envs: int, iterations: int) -> float:
    """env-steps/s of rlmeta PPO (cleanrl preset; num_steps chosen so the batch stays 2048)."""
    from agents.pg.ppo import PPOConfig
    from rlmeta.runner import build_agent

    cfg = PPOConfig.presets()["cleanrl"].replace(env=ENV, num_envs=num_envs, num_steps=2048 // num_envs,
                                                 total_steps=10**9, progress=False, env_threads=2)
    agent = build_agent("ppo", cfg)
    try:
        agent.iteration()  # warm-up
        t0, s0 = time.perf_counter(), agent.global_step
        for _ in range(iterations):
            agent.iteration()
        return (agent.global_step - s0) / (time.perf_counter() - t0)
    finally:
        agent.envs.close()


def sb3_ppo(num_envs: int, iterations: int) -> float:
    """env-steps/s of stable-baselines3 PPO with its defaults (= the same settings) and VecNormalize."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = VecNormalize(make_vec_env(ENV, n_envs=num_envs, seed=0))
    model = PPO("MlpPolicy", venv, n_steps=2048 // num_envs, batch_size=64, n_epochs=10, device="cpu", seed=0)
    batch = 2048
    model.learn(total_timesteps=batch)  # warm-up
    t0 = time.perf_counter()
    model.learn(total_timesteps=batch * iterations, reset_num_timesteps=False)
    sps = batch * iterations / (time.perf_counter() - t0)
    venv.close()
    return sps


def env_stepping(backend: str, num_envs: int, nstep: int = 500) -> float:
    """env-steps/s of rlmeta's VecEnv alone (random actions, autoresets, episode stats; no policy)."""
    from envs import make_vec_env

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
    from benchmarks.gpu_throughput import rollout_rate

    return rollout_rate(ENV, num_envs, nstep, threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=5, help="timed PPO iterations of 2048 steps per measurement")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median is reported")
    p.add_argument("--out", type=Path, default=RESULTS / "ppo_throughput")
    args = p.parse_args()
    torch.set_num_threads(1)
    configs = {
        "rlmeta PPO, 1 env": lambda: rlmeta_ppo(1, args.iterations),
        "SB3 PPO, 1 env": lambda: sb3_ppo(1, args.iterations),
        "rlmeta PPO, 16 envs (batched MuJoCo)": lambda: rlmeta_ppo(16, args.iterations),
        "SB3 PPO, 16 envs (DummyVecEnv)": lambda: sb3_ppo(16, args.iterations),
    }
    results: dict[str, list[float]] = {k: [] for k in configs}
    for r in range(args.repeats):
        for name, fn in configs.items():
            results[name].append(fn())
            print(f"round {r}: {name}: {results[name][-1]:.0f} steps/s", flush=True)
    physics = statistics.median(physics_limit() for _ in range(args.repeats))
    stepping = {"env stepping only: rlmeta batched MuJoCo, 16 envs, 2 threads": statistics.median(
                    env_stepping("mujoco", 16) for _ in range(args.repeats)),
                "env stepping only: gymnasium, 1 env": statistics.median(
                    env_stepping("sync", 1, 4000) for _ in range(args.repeats))}
    med = {k: statistics.median(v) for k, v in results.items()}

    cmd = "python benchmarks/ppo_throughput.py " + " ".join(sys.argv[1:])
    lines = ["# PPO training throughput: rlmeta vs Stable-Baselines3 (HalfCheetah-v5)", "",
             f"Command: `{cmd.strip()}`  ", f"Machine: {machine_line()}  ",
             f"Measured: {time.strftime('%Y-%m-%d')}, {args.repeats} interleaved rounds of {args.iterations} "
             "iterations x 2048 steps after a warm-up iteration; median. Torch on 1 thread for both.", "",
             "Same PPO settings on both sides (batch 2048, 10 epochs x minibatch 64, 64x64 tanh, obs and reward "
             "normalisation). Env-steps/s include collection and updates.", "",
             "| configuration | env-steps/s (median) | rounds | vs SB3 (same envs) |", "|---|---:|---|---:|"]
    peers = {"rlmeta PPO, 1 env": "SB3 PPO, 1 env",
             "rlmeta PPO, 16 envs (batched MuJoCo)": "SB3 PPO, 16 envs (DummyVecEnv)"}
    for name, v in med.items():
        ratio = f"{v / med[peers[name]]:.2f}x" if name in peers else ""
        rounds = ", ".join(f"{x:.0f}" for x in results[name])
        lines.append(f"| {name} | {v:.0f} | {rounds} | {ratio} |")
    lines += [f"| {k} | {v:.0f} | | |" for k, v in stepping.items()]
    lines += [f"| physics only: mujoco.rollout, 16 envs, 2 threads | {physics:.0f} | | |", "",
              f"![throughput]({args.out.name}.png)", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*med, "env stepping: rlmeta batched, 16 envs", "env stepping: gymnasium, 1 env",
             "physics limit (mujoco.rollout)"]
    vals = [*med.values(), *stepping.values(), physics]
    colors = ["tab:green" if n.startswith("rlmeta") else "tab:gray" if n.startswith("SB3") else "tab:blue" for n in names]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.barh(names[::-1], vals[::-1], color=colors[::-1])
    for i, v in enumerate(vals[::-1]):
        ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    ax.set_xlabel("env-steps per second (higher is better)")
    ax.set_title("PPO on HalfCheetah-v5: training throughput (CPU)")
    ax.set_xlim(0, max(vals) * 1.18)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
