"""Stable-Baselines3's DDPG / TD3 / SAC under Spinning Up's settings, next to rlmeta's runs of a suite:
tells a defect of rlmeta's agent from a property of the task or the protocol.

`run` trains SB3 on one (algo, env, seed) with the settings of rlmeta's `spinningup` preset (256x256
ReLU, lr 1e-3, batch 100, 50 updates every 50 steps, polyak 0.995 = tau 0.005, gamma 0.99, 10k steps of
uniform random actions, Gaussian action noise 0.1 for DDPG/TD3) and Spinning Up's test protocol (10
deterministic episodes every 10k steps on a separate env), writing `progress.csv` (global_step,
charts/test_return, and every 1000 steps losses/qf1_values: the critic's mean Q on 1000 replay samples)
like an rlmeta run. Spinning Up starts its updates at step 1000 while acting randomly until 10k; SB3's
`learning_starts` does both at 10k. `--update-after 1000` gives SB3 Spinning Up's protocol (a subclass
keeps the random actions until 10k while the updates start at 1000); the default, 10000, is SB3's own.

`report` reads those runs and rlmeta's run dirs (RUNS/ALGO-ENV-sSEED) and writes a markdown table,
a CSV and a plot of the test returns of both, per seed and as mean over seeds.

Run:
    python benchmarks/sb3_offpolicy_compare.py run --algo ddpg --env Hopper-v5 --seed 0 --steps 200000 --out OUT
    python benchmarks/sb3_offpolicy_compare.py report --algo ddpg --env Hopper-v5 --sb3 OUT --rlmeta RUNS \\
        --seeds 0 1 2 --out benchmarks/results/offpolicy-300k/sb3_ddpg_hopper
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line
from rlmeta.core.env_ids import run_name


def train_sb3(
    algo: str,
    env_id: str,
    seed: int,
    steps: int,
    out: Path,
    eval_every: int = 10_000,
    eval_episodes: int = 10,
    update_after: int = 10_000,
    start_steps: int = 10_000,
) -> None:
    import gymnasium as gym
    import torch
    from stable_baselines3 import DDPG, SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(1)
    env = gym.make(env_id)
    eval_env = gym.make(env_id)
    n = env.action_space.shape[0]
    common = dict(
        learning_rate=1e-3,
        buffer_size=1_000_000,
        learning_starts=update_after,
        batch_size=100,
        tau=0.005,
        gamma=0.99,
        train_freq=(50, "step"),
        gradient_steps=50,
        seed=seed,
        device="cpu",
        policy_kwargs={"net_arch": [256, 256]},
    )
    base = {"ddpg": DDPG, "td3": TD3, "sac": SAC}[algo]

    class SpinningUpStarts(base):  # type: ignore[misc,valid-type]
        # SB3 acts uniformly at random while num_timesteps < learning_starts; Spinning Up does so until
        # start_steps, independently of when the updates begin (update_after).
        def _sample_action(self, learning_starts, action_noise=None, n_envs=1):
            return super()._sample_action(start_steps, action_noise, n_envs)

    if algo == "sac":
        model = SpinningUpStarts("MlpPolicy", env, ent_coef=0.2, **common)  # Spinning Up: fixed alpha 0.2
    else:
        noise = NormalActionNoise(np.zeros(n), 0.1 * np.ones(n))  # Hopper's Box is [-1, 1]
        model = SpinningUpStarts("MlpPolicy", env, action_noise=noise, **common)
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / "progress.csv", "w", newline="")  # noqa: SIM115  (written by the callback, closed after learn)
    w = csv.writer(f)
    w.writerow(["global_step", "charts/test_return", "charts/test_return_std", "time/elapsed", "losses/qf1_values"])
    t0 = time.perf_counter()

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % 1000 == 0:  # the critic's mean Q on replay data: where it diverges
                b = model.replay_buffer.sample(1000)
                with torch.no_grad():
                    q = model.critic(b.observations, b.actions)[0].mean().item()
                w.writerow([self.num_timesteps, "", "", time.perf_counter() - t0, q])
            if self.num_timesteps % eval_every == 0:
                rets = []
                for k in range(eval_episodes):
                    obs, _ = eval_env.reset(seed=10_000 + seed * 100 + k + self.num_timesteps)
                    done, ret = False, 0.0
                    while not done:
                        a, _ = model.predict(obs, deterministic=True)
                        obs, r, term, trunc, _ = eval_env.step(a)
                        ret += float(r)
                        done = term or trunc
                    rets.append(ret)
                w.writerow([self.num_timesteps, np.mean(rets), np.std(rets), time.perf_counter() - t0, ""])
                f.flush()
                print(
                    f"{algo} {env_id} seed {seed}: step {self.num_timesteps} test return {np.mean(rets):.0f}",
                    flush=True,
                )
            return True

    model.learn(total_timesteps=steps, callback=Evaluate())
    f.close()


def read_column(path: Path, column: str = "charts/test_return") -> dict[int, float]:
    """{global_step: value} of one progress.csv column, rows where it is set."""
    rows = list(csv.DictReader(path.read_text().splitlines()))
    return {int(float(r["global_step"])): float(r[column]) for r in rows if r.get(column)}


def window(d: dict[int, float], t: int) -> float:
    """Mean of the test returns of the last 5 evaluations (40k steps) up to step t (NaN: none)."""
    vals = [d[k] for k in range(t - 40_000, t + 1, 10_000) if k in d]
    return float(np.mean(vals)) if vals else float("nan")


def report(args: argparse.Namespace) -> None:
    sb3 = {s: read_column(args.sb3 / run_name(args.algo, args.env, s) / "progress.csv") for s in args.seeds}
    ours = {s: read_column(args.rlmeta / run_name(args.algo, args.env, s) / "progress.csv") for s in args.seeds}
    last = min(max(d) for d in sb3.values())
    steps = list(range(10_000, last + 1, 10_000))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["library", "seed", "global_step", "test_return"])
        for name, runs in (("rlmeta", ours), ("SB3", sb3)):
            for s, d in runs.items():
                for t in steps:
                    if t in d:
                        w.writerow([name, s, t, f"{d[t]:.2f}"])

    marks = [t for t in (100_000, 150_000, 200_000, 250_000, 300_000) if t <= last]
    lines = [
        f"# {args.algo.upper()} on {args.env}: rlmeta and Stable-Baselines3 under the same settings",
        "",
        f"Command: `python benchmarks/sb3_offpolicy_compare.py run --algo {args.algo} --env {args.env} --seed S "
        f"--steps {last}` for S in {' '.join(map(str, args.seeds))}, then `... report`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}. rlmeta: the suite's runs "
        "(`rlmeta bench spinningup-mujoco --budget quick --seeds 3`). Both: Spinning Up's settings (see the "
        "script's docstring for the one difference) and test protocol (10 deterministic episodes every 10k "
        "steps). Figures: mean of each seed's test returns over the last 5 evaluations (40k steps) up to the "
        "step, per seed and over seeds. CSV: every evaluation of both.",
        "",
        "| step | library | per seed | mean over seeds |",
        "|---:|---|---|---:|",
    ]
    for t in marks:
        for name, runs in (("rlmeta", ours), ("SB3", sb3)):
            per = [window(d, t) for d in runs.values()]
            lines.append(f"| {t:,} | {name} | {', '.join(f'{x:.0f}' for x in per)} | {statistics.mean(per):.0f} |")
    lines += ["", f"![side by side]({args.out.name}.png)", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name, runs, color in (("rlmeta", ours, "C0"), ("SB3", sb3, "C1")):
        for d in runs.values():
            ts = [t for t in steps if t in d]
            ax.plot(ts, [d[t] for t in ts], color=color, alpha=0.35, lw=0.9)
        mean = [statistics.mean(window(d, t) for d in runs.values()) for t in steps[4:]]
        ax.plot(steps[4:], mean, color=color, lw=2.2, label=f"{name} (mean over seeds {', '.join(map(str, runs))})")
    ax.set_xlabel("env steps")
    ax.set_ylabel("test return (10 deterministic episodes)")
    ax.set_title(f"{args.algo.upper()} {args.env}: thin = seeds, thick = 5-evaluation mean")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())


def protocol(args: argparse.Namespace) -> None:
    """When DDPG's updates start: rlmeta and SB3, each with updates from step 1000 (Spinning Up) and from
    step 10k (SB3's learning_starts), random actions until 10k in all four: the critic's mean Q and the
    test return, per seed."""
    variants = [
        ("rlmeta", 1000, args.rlmeta_ua1000),
        ("rlmeta", 10_000, args.rlmeta_ua10000),
        ("SB3", 1000, args.sb3_ua1000),
        ("SB3", 10_000, args.sb3_ua10000),
    ]
    runs = {}
    for lib, ua, root in variants:
        for s in args.seeds:
            f = root / f"ddpg-{args.env}-s{s}" / "progress.csv"
            ret = {t: v for t, v in read_column(f, "charts/test_return").items() if t <= args.steps}
            q = {t: v for t, v in read_column(f, "losses/qf1_values").items() if t <= args.steps}
            runs[(lib, ua, s)] = (ret, q)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["library", "update_after", "seed", "global_step", "test_return", "mean_q"])
        for (lib, ua, s), (ret, q) in runs.items():
            for t in sorted(set(ret) | set(q)):
                w.writerow([lib, ua, s, t, f"{ret[t]:.2f}" if t in ret else "", f"{q[t]:.3f}" if t in q else ""])

    def q_at(q: dict[int, float], t: int) -> str:
        return f"{q[t]:.0f}" if t in q else "-"

    marks = (10_000, 20_000, 30_000)
    lines = [
        f"# DDPG on {args.env}: when the updates start",
        "",
        "Commands: rlmeta `rlmeta train ddpg --env Hopper-v5 --seed 0 --seeds 3 --update-after U --compile "
        f"--total-steps {args.steps}` (U = 1000: the runs of `rlmeta bench spinningup-mujoco --budget quick "
        "--seeds 3`, cut at the same step); SB3 `python benchmarks/sb3_offpolicy_compare.py run --algo ddpg "
        f"--env {args.env} --seed S --steps {args.steps} --update-after U`; then `... protocol`.  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}. All four: Spinning Up's settings (256x256 ReLU, lr 1e-3, batch "
        "100, 50 updates every 50 steps, polyak 0.995, noise 0.1) and uniform random actions for the first "
        "10k steps; they differ only in the step of the first update (update_after). Mean Q: the critic's "
        "mean value on a minibatch (rlmeta: the last training minibatch of the logged step; SB3: 1000 "
        "transitions sampled from the replay buffer). Returns: 10 deterministic test episodes every 10k "
        "steps, mean of the last 5 evaluations (40k steps) up to the step.",
        "",
        "| library | update_after | mean Q at "
        + " / ".join(f"{t // 1000}k" for t in marks)
        + f" (per seed) | test return at 50k (per seed) | at {args.steps // 1000}k (per seed) | mean at "
        f"{args.steps // 1000}k |",
        "|---|---:|---|---|---|---:|",
    ]
    for lib, ua, _ in variants:
        seeds = [runs[(lib, ua, s)] for s in args.seeds]
        qs = (
            "; ".join(" / ".join(q_at(q, t) for t in marks) for _, q in seeds)
            if any(q for _, q in seeds)
            else "not logged"
        )
        mid = ", ".join(f"{window(r, 50_000):.0f}" for r, _ in seeds)
        end = [window(r, args.steps) for r, _ in seeds]
        lines.append(
            f"| {lib} | {ua:,} | {qs} | {mid} | {', '.join(f'{x:.0f}' for x in end)} | {statistics.mean(end):.0f} |"
        )
    lines += ["", f"![Q and return]({args.out.name}.png)", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_q, ax_r) = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    styles = {
        ("rlmeta", 1000): ("C0", "-"),
        ("rlmeta", 10_000): ("C0", "--"),
        ("SB3", 1000): ("C1", "-"),
        ("SB3", 10_000): ("C1", "--"),
    }
    for (lib, ua, s), (ret, q) in runs.items():
        color, ls = styles[(lib, ua)]
        label = f"{lib}, update_after {ua:,}" if s == args.seeds[0] else None
        if q:
            ts = sorted(t for t in q if t <= args.q_steps)
            ax_q.plot(ts, [q[t] for t in ts], color=color, ls=ls, lw=1.2, label=label)
        ts = sorted(ret)
        ax_r.plot(ts, [ret[t] for t in ts], color=color, ls=ls, lw=1.2, alpha=0.8, label=label)
    ax_q.set_xlabel("env steps")
    ax_q.set_ylabel("critic's mean Q")
    ax_q.set_title("mean Q (one line per seed)")
    ax_r.set_xlabel("env steps")
    ax_r.set_ylabel("test return (10 deterministic episodes)")
    ax_r.set_title(f"DDPG {args.env}: test return (one line per seed)")
    for ax in (ax_q, ax_r):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))
    print(args.out.with_suffix(".md").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train SB3 on one seed, writing OUT/ALGO-ENV-sSEED/progress.csv")
    r.add_argument("--algo", choices=["ddpg", "td3", "sac"], required=True, help="SB3 algorithm")
    r.add_argument("--env", default="Hopper-v5", help="gymnasium id")
    r.add_argument("--seed", type=int, default=0, help="seed of SB3 and the env")
    r.add_argument("--steps", type=int, default=300_000, help="env steps to train")
    r.add_argument("--out", type=Path, required=True, help="folder for the run's CSV")
    r.add_argument(
        "--update-after",
        type=int,
        default=10_000,
        help="env steps before the first update (SB3's learning_starts); random actions last until 10k "
        "either way: 1000 is Spinning Up's protocol, 10000 SB3's",
    )
    g = sub.add_parser("report", help="table, CSV and plot of SB3's and rlmeta's runs")
    g.add_argument("--algo", choices=["ddpg", "td3", "sac"], required=True, help="algorithm")
    g.add_argument("--env", default="Hopper-v5", help="gymnasium id")
    g.add_argument("--sb3", type=Path, required=True, help="the folder given to `run --out`")
    g.add_argument("--rlmeta", type=Path, required=True, help="the suite's run folder (ALGO-ENV-sSEED inside)")
    g.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to compare")
    g.add_argument("--out", type=Path, required=True, help="output path without suffix (.md, .csv, .png)")
    q = sub.add_parser("protocol", help="DDPG with updates from step 1000 vs 10k, rlmeta and SB3: Q and return")
    q.add_argument("--env", default="Hopper-v5", help="gymnasium id")
    q.add_argument("--rlmeta-ua1000", type=Path, required=True, help="rlmeta runs, updates from step 1000")
    q.add_argument("--rlmeta-ua10000", type=Path, required=True, help="rlmeta runs, updates from step 10k")
    q.add_argument("--sb3-ua1000", type=Path, required=True, help="SB3 runs of `run --update-after 1000`")
    q.add_argument("--sb3-ua10000", type=Path, required=True, help="SB3 runs of `run` (updates from 10k)")
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to compare")
    q.add_argument("--steps", type=int, default=100_000, help="compare up to this step")
    q.add_argument("--q-steps", type=int, default=40_000, help="the Q panel's last step")
    q.add_argument("--out", type=Path, required=True, help="output path without suffix (.md, .csv, .png)")
    args = p.parse_args()
    if args.cmd == "protocol":
        protocol(args)
    elif args.cmd == "run":
        train_sb3(
            args.algo,
            args.env,
            args.seed,
            args.steps,
            args.out / run_name(args.algo, args.env, args.seed),
            update_after=args.update_after,
        )
    else:
        report(args)


if __name__ == "__main__":
    main()
