"""Env-steps/s of Atari on the CPU: rlmeta's backend (ALE's native vector env) against gymnasium's
vector envs over the same preprocessing, side by side in one run.

Three ways to step N Breakout games with random actions, each an env step of 4 emulator frames
(frame skip 4, max-pool of the last two, 84x84 grayscale, a stack of 4 frames, up to 30 no-ops at reset):
- `rlmeta (ALE native vector env)`: envs/atari.py's AtariBackend, `ale_py.vector_env.AtariVectorEnv`
  stepping the games in C++ threads with the preprocessing there, one Python call per step for all N
  games; plus rlmeta's episodic-life and reward-clipping bookkeeping in numpy;
- `gymnasium SyncVectorEnv`: N `gym.make(id)` + `AtariPreprocessing` + `FrameStackObservation`
  (the wrappers CleanRL's ppo_atari.py and SB3 build on), one game after another in one thread;
- `gymnasium AsyncVectorEnv`: the same envs, one subprocess each, observations in shared memory.

Each variant is built once, stepped once to warm up, then timed over --steps env steps per env in
--rounds rounds, the variants taking turns within a round so background load falls on all alike.

Run (writes benchmarks/results/atari_env_throughput/atari_env_throughput.{md,csv,png}):
    nice python benchmarks/atari_env_throughput.py                    # 8 envs, 500 steps, 5 rounds
    python benchmarks/atari_env_throughput.py --rounds 1 --steps 20 --out /tmp/atari_tp   # a quick look
"""

from __future__ import annotations

import argparse
import functools
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line, write_csv

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("rlmeta (ALE native vector env)", "gymnasium SyncVectorEnv", "gymnasium AsyncVectorEnv")


class Runner:
    """One variant: a vector env stepped with [T, N] actions, keeping the last observations [N, 4, 84, 84]."""

    def __init__(self, env, obs: np.ndarray):
        self.env, self.obs = env, obs
        self.n_actions = int(env.single_action_space.n)

    def run(self, actions: np.ndarray) -> None:  # actions [T, N] int64
        for a in actions:
            self.obs = self.env.step(a)[0]

    def close(self) -> None:
        self.env.close()


def build(variant: str, env_id: str, n: int) -> Runner:
    from rlmeta.envs.atari import AtariBackend, gym_env

    if variant == VARIANTS[0]:
        native = AtariBackend(env_id, n)
        return Runner(native, native.reset(seed=0))
    import gymnasium as gym

    cls = gym.vector.AsyncVectorEnv if variant == VARIANTS[2] else gym.vector.SyncVectorEnv
    vec = cls([functools.partial(gym_env, env_id)] * n, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    return Runner(vec, vec.reset(seed=0)[0])


def measure(env_id: str, n: int, steps: int, rounds: int) -> dict[str, list[float]]:
    """variant -> env-steps/s per round (the variants take turns within each round)."""
    runners = {v: build(v, env_id, n) for v in VARIANTS}
    actions = np.random.default_rng(0).integers(0, runners[VARIANTS[0]].n_actions, (steps, n))
    try:
        for v, r in runners.items():  # warm-up: threads, subprocesses, first allocations
            r.run(actions[:2])
            assert r.obs.shape == (n, 4, 84, 84) and r.obs.dtype == np.uint8, (v, r.obs.shape, r.obs.dtype)
        out: dict[str, list[float]] = {v: [] for v in runners}
        for i in range(rounds):
            for v, r in runners.items():
                t0 = time.perf_counter()
                r.run(actions)
                out[v].append(steps * n / (time.perf_counter() - t0))
            print(f"round {i}: " + " / ".join(f"{out[v][-1]:.0f}" for v in VARIANTS), flush=True)
        return out
    finally:
        for r in runners.values():
            r.close()


def plot(path: Path, sps: dict[str, list[float]], med: dict[str, float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    x = np.arange(len(VARIANTS))
    ax.bar(x, [med[v] for v in VARIANTS], 0.6, color=["C0", "C7", "C8"], label="median")
    for j, v in enumerate(VARIANTS):
        ax.plot([j] * len(sps[v]), sps[v], "k.", ms=4, label="rounds" if j == 0 else None)
    ax.set_xticks(x, [v.replace(" (", "\n(") for v in VARIANTS], fontsize=8)
    ax.set_ylabel("env-steps/s")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--env", default="BreakoutNoFrameskip-v4", help="an Atari id (<Game>NoFrameskip-v4 or ALE/<Game>-v5)"
    )
    p.add_argument("--envs", type=int, default=8, help="games stepped together (the atari preset's 8)")
    p.add_argument("--steps", type=int, default=500, help="env steps per game per timed block")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    p.add_argument("--note", default="", help="free text for the report (e.g. other load on the machine)")
    p.add_argument("--out", type=Path, default=RESULTS / "atari_env_throughput")
    args = p.parse_args(argv)
    start = time.perf_counter()
    sps = measure(args.env, args.envs, args.steps, args.rounds)
    med = {v: round(statistics.median(x), 1) for v, x in sps.items()}  # rounded once: CSV, table, figure agree
    ratio = {v: statistics.median(a / b for a, b in zip(sps[VARIANTS[0]], sps[v])) for v in VARIANTS[1:]}
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [
        dict(variant=v, env=args.env, envs=args.envs, steps=args.steps, median_env_steps_per_s=med[v])
        | dict(min=round(min(sps[v]), 1), max=round(max(sps[v]), 1), native_over_this=ratio.get(v, 1.0))
        for v in VARIANTS
    ]
    write_csv(args.out / "atari_env_throughput.csv", rows, list(rows[0]))
    cmd = "python benchmarks/atari_env_throughput.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# Atari env stepping on the CPU: ALE's native vector env vs gymnasium's ({args.env})",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}, {args.envs} games per variant, {args.steps} env steps per game "
        f"per block, {args.rounds} interleaved rounds; whole run {time.perf_counter() - start:.0f} s."
        + (f" {args.note}" if args.note else ""),
        "",
        "Random actions; an env step is 4 emulator frames with the standard preprocessing on every variant "
        "(max-pool, 84x84 grayscale, 4-frame stack, up to 30 no-ops at reset), observations [N, 4, 84, 84] "
        "uint8. The native vector env uses ale-py's default thread count; the ratio is the median of the "
        "per-round ratios.",
        "",
        "| variant | env-steps/s (median) | min - max over rounds | rlmeta / this |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['median_env_steps_per_s']:,.0f} | {r['min']:,.0f} - {r['max']:,.0f} | "
            f"{r['native_over_this']:.2f} |"
        )
    lines += ["", "![env-steps/s](atari_env_throughput.png)", ""]
    (args.out / "atari_env_throughput.md").write_text("\n".join(lines))
    plot(args.out / "atari_env_throughput.png", sps, med, f"{args.env}, {args.envs} games, random actions")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
