"""Env-steps/s of the six MuJoCo tasks on the CPU: rlmeta's batched backend against the physics limit
(mujoco.rollout) and gymnasium's SyncVectorEnv, side by side in one run.

Three ways to step N copies of a gymnasium v5 task with random actions in [-1, 1]:
- `rlmeta batched`: envs/mujoco/batched.py's MujocoBatchBackend (one MjData per env, a thread pool,
  the task's reward / termination / observation rules as numpy over the batch, SAME_STEP autoreset);
  bitwise gymnasium's trajectories (tests/test_vec_env.py);
- `mujoco.rollout`: MuJoCo's own multi-threaded rollout of the same model from one reset state,
  frame_skip physics steps per env step and nothing else (no rewards, observations or resets): the
  physics limit of this machine;
- `gymnasium SyncVectorEnv`: gymnasium.vector.SyncVectorEnv in SAME_STEP autoreset mode (rlmeta's
  gym_backend.py), one env after another in one thread.

Each variant of each task is built once, stepped once to warm up, then timed over --steps env steps
in --rounds rounds; within a round the tasks and variants take turns, so background load falls on all
of them alike. The report gives the median per variant and the median per-round ratios.

Run (writes benchmarks/results/env_throughput/env_throughput.{md,csv,png}):
    nice python benchmarks/env_throughput.py                       # 16 envs, 2 threads, 5 rounds
    python benchmarks/env_throughput.py --rounds 1 --steps 50 --out /tmp/env_tp   # a quick look
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line, write_csv

RESULTS = Path(__file__).parent / "results"
TASKS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5", "Humanoid-v5")
VARIANTS = ("rlmeta batched", "mujoco.rollout", "gymnasium SyncVectorEnv")


class Batched:
    def __init__(self, env_id: str, n: int, threads: int):
        from rlmeta.envs.mujoco.batched import MujocoBatchBackend

        self.env = MujocoBatchBackend(env_id, n, threads=threads)
        self.env.reset(0)
        self.act_dim = self.env.single_action_space.shape[0]

    def run(self, actions: np.ndarray) -> None:  # actions [T, N, act_dim]
        for a in actions:
            self.env.step(a)

    def close(self) -> None:
        self.env.close()


class GymSync:
    def __init__(self, env_id: str, n: int, threads: int):
        from rlmeta.envs.gym_backend import GymBackend

        self.env = GymBackend(env_id, n)  # SyncVectorEnv: one thread whatever `threads` says
        self.env.reset(0)
        self.act_dim = self.env.single_action_space.shape[0]

    def run(self, actions: np.ndarray) -> None:
        for a in actions:
            self.env.step(a)

    def close(self) -> None:
        self.env.close()


class Rollout:
    """mujoco.rollout of n worlds from gymnasium's reset state, frame_skip physics steps per env step."""

    def __init__(self, env_id: str, n: int, threads: int):
        import gymnasium as gym
        import mujoco

        env = gym.make(env_id)
        u = env.unwrapped
        self.model, self.skip, self.n, self.act_dim = u.model, u.frame_skip, n, u.model.nu
        self.datas = [mujoco.MjData(self.model) for _ in range(threads)]
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        state0 = np.zeros(mujoco.mj_stateSize(self.model, spec))
        env.reset(seed=0)
        mujoco.mj_getState(self.model, u.data, state0, spec)
        self.init = np.tile(state0, (n, 1))  # [N, state]
        env.close()

    def run(self, actions: np.ndarray) -> None:
        from mujoco import rollout

        ctrl = np.repeat(actions.transpose(1, 0, 2), self.skip, axis=1)  # [N, T * frame_skip, nu]
        rollout.rollout(self.model, self.datas, self.init, np.ascontiguousarray(ctrl))

    def close(self) -> None:
        pass


MAKERS = {"rlmeta batched": Batched, "mujoco.rollout": Rollout, "gymnasium SyncVectorEnv": GymSync}


def measure(tasks: list[str], n: int, threads: int, steps: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    """(task, variant) -> env-steps/s per round (rounds interleaved over tasks and variants)."""
    runners = {(t, v): MAKERS[v](t, n, threads) for t in tasks for v in VARIANTS}
    rng = np.random.default_rng(0)
    actions = {t: rng.uniform(-1, 1, (steps, n, runners[(t, VARIANTS[0])].act_dim)) for t in tasks}
    try:
        for (t, _), r in runners.items():  # warm-up: thread pools, first allocations
            r.run(actions[t][:2])
        out: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
        for i in range(rounds):
            for (t, v), r in runners.items():
                t0 = time.perf_counter()
                r.run(actions[t])
                out[(t, v)].append(steps * n / (time.perf_counter() - t0))
            print(
                f"round {i}: "
                + "; ".join(f"{t} " + "/".join(f"{out[(t, v)][-1]:.0f}" for v in VARIANTS) for t in tasks),
                flush=True,
            )
        return out
    finally:
        for r in runners.values():
            r.close()


def plot(path: Path, tasks: list[str], med: dict[tuple[str, str], float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    width = 0.8 / len(VARIANTS)
    x = np.arange(len(tasks))
    for j, v in enumerate(VARIANTS):
        ax.bar(x + (j - 1) * width, [med[(t, v)] for t in tasks], width, label=v)
    ax.set_xticks(x, tasks, fontsize=8)
    ax.set_ylabel("env-steps/s (median over rounds)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--envs", type=int, default=16, help="parallel envs (worlds) per variant")
    p.add_argument("--threads", type=int, default=2, help="threads of the batched backend and of mujoco.rollout")
    p.add_argument("--steps", type=int, default=300, help="env steps per env per timed block")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    p.add_argument("--note", default="", help="free text for the report (e.g. other load on the machine)")
    p.add_argument("--out", type=Path, default=RESULTS / "env_throughput")
    args = p.parse_args(argv)
    start = time.perf_counter()
    sps = measure(args.tasks, args.envs, args.threads, args.steps, args.rounds)
    # rounded once, here: the CSV, the table and the figure show the same numbers
    med = {k: round(statistics.median(v), 1) for k, v in sps.items()}

    def ratio(t: str, a: str, b: str) -> float:  # median of the per-round ratios
        return statistics.median(x / y for x, y in zip(sps[(t, a)], sps[(t, b)]))

    args.out.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "task": t,
            "variant": v,
            "envs": args.envs,
            "threads": args.threads,
            "steps": args.steps,
            "median_env_steps_per_s": med[(t, v)],
            "min": round(min(sps[(t, v)]), 1),
            "max": round(max(sps[(t, v)]), 1),
        }
        for t in args.tasks
        for v in VARIANTS
    ]
    write_csv(args.out / "env_throughput.csv", rows, list(rows[0]))
    cmd = "python benchmarks/env_throughput.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# MuJoCo env stepping on the CPU: rlmeta's batched backend vs mujoco.rollout vs gymnasium",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}, {args.envs} envs per variant, {args.threads} threads for the "
        f"batched backend and mujoco.rollout (SyncVectorEnv runs in one), {args.steps} env steps per env per "
        f"block, {args.rounds} interleaved rounds; whole run {time.perf_counter() - start:.0f} s."
        + (f" {args.note}" if args.note else ""),
        "",
        "Random actions in [-1, 1]. An env step is frame_skip physics steps (HalfCheetah, Ant, Humanoid 5; "
        "Hopper, Walker2d, Swimmer 4). mujoco.rollout does physics only, from one reset state and without "
        "resets (a fallen Hopper or Humanoid keeps lying there, which changes its contact count); the "
        "batched backend and SyncVectorEnv also compute rewards, terminations and observations and reset "
        "ended episodes (SAME_STEP). Ratios are medians of the per-round ratios. Where the rollout is "
        "slower than the batched backend (Humanoid: its worlds lie on the floor with many contacts, while "
        "the backends reset fallen ones to standing), it is no limit: the two step different states.",
        "",
        "| task | rlmeta batched | mujoco.rollout (physics limit) | gymnasium SyncVectorEnv | "
        "batched / physics limit | batched / SyncVectorEnv |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in args.tasks:
        lines.append(
            f"| {t} | {med[(t, VARIANTS[0])]:,.0f} | {med[(t, VARIANTS[1])]:,.0f} | {med[(t, VARIANTS[2])]:,.0f} | "
            f"{ratio(t, VARIANTS[0], VARIANTS[1]):.2f} | {ratio(t, VARIANTS[0], VARIANTS[2]):.2f} |"
        )
    lines += ["", "Min and max over rounds: env_throughput.csv.", "", "![env-steps/s](env_throughput.png)", ""]
    (args.out / "env_throughput.md").write_text("\n".join(lines))
    plot(
        args.out / "env_throughput.png",
        args.tasks,
        med,
        f"{args.envs} envs, {args.threads} threads (SyncVectorEnv: 1), random actions",
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
