"""PPO throughput on discrete tasks, rlmeta vs Stable-Baselines3 side by side: CartPole-v1 (1 and 8
envs, CleanRL's ppo.py settings) and Atari Breakout (8 envs, CleanRL's ppo_atari.py settings).

Both libraries train with the same settings; each is built once in this process and timed over whole
iterations (collect + update) in alternating blocks after one warm-up iteration, so background load
hits both alike; the report gives the median per-round ratio and its range. Torch on 1 thread for
both. rlmeta steps Atari through ALE's native vector env (C++ threads, one Python call per step for
all games); SB3 through its AtariWrapper stack on gymnasium envs in a DummyVecEnv (one Python call
per game per step), its standard set-up (`make_atari_env` + `VecFrameStack`).

Run:
    python benchmarks/discrete_throughput.py                      # writes benchmarks/results/discrete_throughput/
    python benchmarks/discrete_throughput.py --rounds 2 --tasks cartpole   # quick look
"""

from __future__ import annotations

import argparse
import csv
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line
from rlmeta.benchmarks.timing import AgentTimer

RESULTS = Path(__file__).parent / "results" / "discrete_throughput"
ATARI = "BreakoutNoFrameskip-v4"
# (task label, env id, num_envs, steps per env per iteration): a batch of 512 for CartPole, 1024 for Atari
CASES = {
    "cartpole": [("CartPole-v1, 1 env", "CartPole-v1", 1, 512), ("CartPole-v1, 8 envs", "CartPole-v1", 8, 64)],
    "atari": [(f"{ATARI}, 8 envs", ATARI, 8, 128)],
}


# the rlmeta variants timed against SB3: name -> config changes, and whether the case has images (a bf16
# encoder only changes pixel tasks)
VARIANTS = {
    "rlmeta": ({}, False),
    "rlmeta --compile": ({"compile": True}, False),
    "rlmeta --encoder-precision bf16": ({"encoder_precision": "bf16"}, True),
}


class RlmetaPPO(AgentTimer):
    """rlmeta PPO with the classic (CartPole) or atari preset and `changes` on top, built once."""

    def __init__(self, env_id: str, num_envs: int, num_steps: int, **changes):
        from rlmeta.agents.onpolicy.ppo import PPOConfig

        preset = "atari" if env_id == ATARI else "classic"
        super().__init__(
            "ppo",
            PPOConfig.presets()[preset].replace(
                env=env_id, num_envs=num_envs, num_steps=num_steps, total_steps=10**12, progress=False, **changes
            ),
        )
        self.batch = num_envs * num_steps


class SB3PPO:
    """stable-baselines3 PPO with the same settings (CleanRL's ppo.py / ppo_atari.py), built once."""

    def __init__(self, env_id: str, num_envs: int, num_steps: int):
        from stable_baselines3 import PPO

        self.batch = num_envs * num_steps
        if env_id == ATARI:
            import ale_py
            import gymnasium as gym
            from stable_baselines3.common.env_util import make_atari_env
            from stable_baselines3.common.vec_env import VecFrameStack

            gym.register_envs(ale_py)
            self.venv = VecFrameStack(make_atari_env(env_id, n_envs=num_envs, seed=0), n_stack=4)
            self.model = PPO(
                "CnnPolicy",
                self.venv,
                n_steps=num_steps,
                batch_size=self.batch // 4,
                n_epochs=4,
                learning_rate=2.5e-4,
                clip_range=0.1,
                ent_coef=0.01,
                vf_coef=0.5,
                max_grad_norm=0.5,
                gamma=0.99,
                gae_lambda=0.95,
                device="cpu",
                seed=0,
            )
        else:
            from stable_baselines3.common.env_util import make_vec_env

            self.venv = make_vec_env(env_id, n_envs=num_envs, seed=0)
            self.model = PPO(
                "MlpPolicy",
                self.venv,
                n_steps=num_steps,
                batch_size=self.batch // 4,
                n_epochs=4,
                learning_rate=2.5e-4,
                ent_coef=0.01,
                clip_range=0.2,
                vf_coef=0.5,
                max_grad_norm=0.5,
                gamma=0.99,
                gae_lambda=0.95,
                policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.Tanh},
                device="cpu",
                seed=0,
            )

    def block(self, iterations: int) -> float:
        t0 = time.perf_counter()
        self.model.learn(total_timesteps=self.batch * iterations, reset_num_timesteps=False)
        return self.batch * iterations / (time.perf_counter() - t0)

    def close(self) -> None:
        self.venv.close()


def side_by_side(env_id: str, num_envs: int, num_steps: int, rounds: int, iterations: int) -> dict[str, list[float]]:
    runners: dict[str, RlmetaPPO | SB3PPO] = {
        name: RlmetaPPO(env_id, num_envs, num_steps, **changes)
        for name, (changes, images_only) in VARIANTS.items()
        if env_id == ATARI or not images_only
    }
    runners["SB3"] = SB3PPO(env_id, num_envs, num_steps)
    try:
        for runner in runners.values():
            runner.block(1)  # warm-up
        sps: dict[str, list[float]] = {name: [] for name in runners}
        for r in range(rounds):
            for name, runner in runners.items():
                sps[name].append(runner.block(iterations))
            print(
                f"{env_id} x{num_envs} round {r}: "
                + ", ".join(f"{k} {v[-1]:.0f}" for k, v in sps.items())
                + " steps/s",
                flush=True,
            )
        return sps
    finally:
        for runner in runners.values():
            runner.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", choices=list(CASES), default=list(CASES), help="which cases to measure")
    p.add_argument("--rounds", type=int, default=5, help="alternating blocks per library; medians are reported")
    p.add_argument("--iterations", type=int, default=2, help="PPO iterations per block")
    p.add_argument("--note", default="", help="free text for the report (e.g. other load on the machine)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    torch.set_num_threads(1)
    results = {
        label: side_by_side(env_id, n, t, args.rounds, args.iterations)
        for task in args.tasks
        for (label, env_id, n, t) in CASES[task]
    }

    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "discrete_throughput.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "round", "runner", "env_steps_per_s", "ratio_to_sb3"])
        for label, sps in results.items():
            for name, values in sps.items():
                for r, (a, b) in enumerate(zip(values, sps["SB3"])):
                    w.writerow([label, r, name, f"{a:.1f}", f"{a / b:.3f}"])
    cmd = "python benchmarks/discrete_throughput.py " + shlex.join(sys.argv[1:])
    lines = [
        "# PPO throughput on discrete tasks: rlmeta vs Stable-Baselines3",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}. Each library built once in one process; after one warm-up "
        f"iteration each they run {args.rounds} rounds of {args.iterations} iteration(s), in turn; the ratio is "
        "taken per round (CSV: `discrete_throughput.csv`). Torch on 1 thread for both.",
        "",
    ]
    if args.note:
        lines += [f"Note: {args.note}", ""]
    lines += [
        "Settings on both sides: CartPole-v1 as CleanRL's ppo.py (batch 512, 4 epochs x 4 minibatches, 64x64 tanh, "
        "lr 2.5e-4, entropy 0.01, clip 0.2); Breakout as CleanRL's ppo_atari.py (8 envs x 128 steps, Nature CNN "
        "shared by policy and value, 4 epochs x 4 minibatches, lr 2.5e-4, clip 0.1, entropy 0.01; no-op reset, "
        "frame skip 4 with max-pool, 84x84 grayscale, 4-frame stack, episodic life, reward clipping).",
        "",
        "The rlmeta variants: its default update; `--compile` (each minibatch's forward and backward and the Adam "
        "steps as torch.compile'd graphs; compilation happens in the warm-up iteration, outside the timed rounds); "
        "`--encoder-precision bf16` on Breakout (the Nature CNN's convolutions and linear layer under bfloat16 "
        "autocast, everything else float32; SB3 has no such option and runs float32). Each cell: median env-steps/s, "
        "then the median per-round ratio to SB3 (min-max).",
        "",
        "| case | " + " | ".join(VARIANTS) + " | SB3 |",
        "|---|" + "---:|" * (len(VARIANTS) + 1),
    ]
    for label, sps in results.items():
        cells = []
        for name in VARIANTS:
            if name not in sps:
                cells.append("n.a.")
                continue
            r = [a / b for a, b in zip(sps[name], sps["SB3"])]
            cells.append(
                f"{statistics.median(sps[name]):,.0f}: **{statistics.median(r):.2f}x** ({min(r):.2f}-{max(r):.2f})"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {statistics.median(sps['SB3']):,.0f} |")
    lines += ["", "![throughput](discrete_throughput.png)", ""]
    (args.out / "discrete_throughput.md").write_text("\n".join(lines))
    plot(results, args.out / "discrete_throughput.png")
    print((args.out / "discrete_throughput.md").read_text())


def plot(results: dict[str, dict[str, list[float]]], out: Path) -> None:
    """Bars of the median env-steps/s per case and runner, a dot per round (results[case][runner])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    labels = list(results)
    x = range(len(labels))
    names = [*VARIANTS, "SB3"]
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        at = [(i, lbl) for i, lbl in enumerate(labels) if name in results[lbl]]
        offset = (k - (len(names) - 1) / 2) * width
        med = [statistics.median(results[lbl][name]) for _, lbl in at]
        ax.bar([i + offset for i, _ in at], med, width, label=name, color=f"C{k}")
        for i, lbl in at:
            ax.plot([i + offset] * len(results[lbl][name]), results[lbl][name], "k.", ms=3)
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("env-steps/s (collect + update)")
    ax.set_title("PPO on discrete tasks, this CPU (bars: medians, dots: rounds)")
    ax.legend(loc="upper right", fontsize=8)  # above Breakout's low bars, clear of CartPole's
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
