"""PPO on one GPU: the `gpu` preset on mujoco-warp worlds, each task trained for a fixed wall-clock
budget (kernel compilation and CUDA-graph capture included), with learning curves against wall time
and env steps next to the CPU path's 1M-step results, end-to-end throughput with the update phase
as a CUDA graph and eagerly, a deterministic evaluation at the end, and the compiled == eager test.

The GPU check: one command on a GPU machine (about 8 minutes on an H100), writing gpu_ppo.md, gpu_ppo.png and one CSV per task into --out:
    python benchmarks/gpu_ppo.py --out benchmarks/results/gpu_ppo
The Ant-v5 / Humanoid-v5 check (targets: 1M env-steps/s on Ant; Humanoid's training return above
5000 within 5 minutes), about 8.5 minutes on one GPU:
    python benchmarks/gpu_ppo.py --envs Humanoid-v5 Ant-v5 --budget-s 300 120 --throughput-env Ant-v5 \
        --throughput-iters 4 --no-test --out benchmarks/results/gpu_ppo_ant_humanoid
(Humanoid first: its 300 s budget is the target's 5 minutes; Ant's 120 s include its kernel compilation
and give the median env-steps/s of its training iterations, and the throughput rows time Ant again.)
The test suite runs it in a tiny configuration on Warp's CPU device (tests/test_gpu_ppo.py):
    python benchmarks/gpu_ppo.py --device cpu --num-envs 8 --num-steps 8 --max-iters 2 --envs HalfCheetah-v5 \
        --eval-envs 4 --eval-steps 20 --throughput-iters 1 --no-test --out /tmp/gpu_ppo

Returns: `charts/episodic_return` is the mean raw return of the (stochastic-policy) training episodes
that ended in an iteration (staggered starts: a few every step; the shortened first episodes are left
out); the final evaluation runs the policy mean for one full episode in fresh worlds.
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line, write_csv

RESULTS = Path(__file__).parent / "results"
ENVS = ("HalfCheetah-v5", "Hopper-v5")  # the default run
TASKS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5", "Humanoid-v5")  # --envs choices
TARGETS = {"HalfCheetah-v5": 6000.0, "Hopper-v5": 3000.0, "Humanoid-v5": 5000.0}  # training return within 5 minutes
THROUGHPUT_TARGETS = {"Ant-v5": 1_000_000.0}  # env-steps/s of whole training iterations (median)
CPU_SUMMARY = RESULTS / "onpolicy-1m" / "summary.md"
COLUMNS = (
    "wall_s",
    "global_step",
    "charts/episodic_return",
    "charts/episodes",
    "charts/SPS",
    "charts/learning_rate",
    "losses/approx_kl",
    "losses/explained_variance",
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_config(env_id: str, args: argparse.Namespace, **over):
    from rlmeta.agents.onpolicy.ppo import PPOConfig

    kw = dict(env=env_id, device=args.device, seed=args.seed, total_steps=10**12, progress=False)
    if args.num_envs:
        kw["num_envs"] = args.num_envs
    if args.num_steps:
        kw["num_steps"] = args.num_steps
    preset = PPOConfig.presets()["gpu"]
    preset = preset.replace(**PPOConfig.task_overrides("gpu", env_id))  # as `--preset gpu --env ENV` does
    return preset.replace(**{**kw, **over})


def budget_of(env_id: str, args: argparse.Namespace) -> float:
    """--budget-s: one value for every task, or one per task of --envs."""
    b = args.budget_s
    return b[0] if len(b) == 1 else b[args.envs.index(env_id)]


def train(env_id: str, args: argparse.Namespace, deadline: float) -> tuple[list[dict], object]:
    """Train until the budget (from before the agent is built, so compilation counts) -> rows, agent."""
    from rlmeta.app.runner import build_agent

    t0 = time.perf_counter()
    stop = min(t0 + budget_of(env_id, args), deadline)
    agent = build_agent("ppo", make_config(env_id, args))
    rows: list[dict] = []
    while time.perf_counter() < stop and (args.max_iters == 0 or len(rows) < args.max_iters):
        s0, ti = agent.global_step, time.perf_counter()
        m = agent.iteration()  # ends in a host sync (metrics to floats): wall times are real
        now = time.perf_counter()
        m.update(
            {"wall_s": now - t0, "global_step": agent.global_step, "charts/SPS": (agent.global_step - s0) / (now - ti)}
        )
        rows.append(m)
        if len(rows) % args.print_every == 0:
            print(
                f"{env_id} {now - t0:6.1f}s step {agent.global_step:>11,} return "
                f"{m.get('charts/episodic_return', float('nan')):8.1f} SPS {m['charts/SPS']:>10,.0f} "
                f"lr {m.get('charts/learning_rate', float('nan')):.2e}",
                flush=True,
            )
    return rows, agent


@torch.no_grad()
def evaluate(agent, env_id: str, args: argparse.Namespace) -> tuple[float, float, int]:
    """Deterministic policy (mean action), fresh worlds with gymnasium's resets, the training run's
    observation statistics frozen: the first full episode of each world -> (mean, std, worlds)."""
    from rlmeta.envs import make_vec_env

    cfg = agent.cfg
    envs = make_vec_env(
        env_id,
        args.eval_envs,
        seed=10_000 + cfg.seed,
        backend="warp",
        normalize_obs=cfg.normalize_obs,
        device=agent.device,
    )
    envs.obs_rms, envs.training, envs.torch_io = agent.envs.obs_rms, False, True
    obs = envs.reset()
    first = torch.full((args.eval_envs,), float("nan"), dtype=torch.float64, device=agent.device)
    for _ in range(args.eval_steps):
        out = envs.step(agent.actor(obs)[0])
        new = out.episode_mask & first.isnan()
        first = torch.where(new, out.episode_returns, first)
        obs = out.obs
    envs.close()
    done = first[~first.isnan()].cpu().numpy()
    if len(done) == 0:
        return float("nan"), float("nan"), 0
    return float(done.mean()), float(done.std()), len(done)


def throughput(env_id: str, args: argparse.Namespace, compile_: bool) -> float:
    """Median env-steps/s over `throughput_iters` iterations after two warm-up iterations (capture)."""
    from rlmeta.app.runner import build_agent

    agent = build_agent("ppo", make_config(env_id, args, compile=compile_))
    try:
        rates = []
        for i in range(args.throughput_iters + 2):
            sync(agent.device)
            t0, s0 = time.perf_counter(), agent.global_step
            agent.iteration()
            sync(agent.device)
            if i >= 2:
                rates.append((agent.global_step - s0) / (time.perf_counter() - t0))
        return float(np.median(rates))
    finally:
        agent.envs.close()


def run_equality_test(timeout: float) -> tuple[str, str]:
    """tests/test_ppo_compile.py's compiled == eager tests (CUDA variants included where there is a GPU)."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_ppo_compile.py",
        "-k",
        "compiled_equals_eager or captured_fn or adaptive_kl",
    ]
    try:
        r = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1]
        )
        tail = (r.stdout + r.stderr).strip().splitlines()
        last = tail[-1] if tail else ""
        return ("passed" if r.returncode == 0 else f"FAILED (exit {r.returncode})"), last
    except Exception as e:
        return f"not run ({type(e).__name__})", str(e)[:200]


def cpu_reference() -> dict[str, list[tuple[float, float, float]]]:
    """PPO rows of the CPU path's 1M results: env -> [(step, mean return, wall seconds at that step)]."""
    out: dict[str, list[tuple[float, float, float]]] = {}
    if not CPU_SUMMARY.exists():
        return out
    for line in CPU_SUMMARY.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[0] == "ppo":
            step = float(cells[2].replace(",", ""))
            mean = float(cells[3].split("+-")[0])
            minutes = float(re.sub(r"[^0-9.]", "", cells[7]))
            sps = float(cells[8].replace(",", "")) if len(cells) > 8 else float("nan")
            out.setdefault(cells[1], []).append((step, mean, step / sps if sps == sps else minutes * 60))
    return out


def read_csv(path: Path) -> list[dict]:
    """write_csv's rows back (empty cells dropped, as in the rows that were written)."""
    with path.open() as f:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def curve(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> wall_s, steps, return (iterations with finished episodes only)."""
    keep = [r for r in rows if "charts/episodic_return" in r]
    col = lambda k: np.array([r[k] for r in keep], dtype=float)  # noqa: E731
    return col("wall_s"), col("global_step"), col("charts/episodic_return")


def smooth(y: np.ndarray, k: int = 5) -> np.ndarray:
    if len(y) < k:
        return y
    return np.convolve(y, np.ones(k) / k, mode="valid")


def first_time_reaching(rows: list[dict], target: float, k: int = 5) -> tuple[float, float] | None:
    """(wall_s, step) where the k-iteration running mean of the training return first reaches target."""
    wall, steps, ret = curve(rows)
    if len(ret) < k:
        return None
    hit = np.flatnonzero(smooth(ret, k) >= target)
    return None if len(hit) == 0 else (float(wall[hit[0] + k - 1]), float(steps[hit[0] + k - 1]))


def plot(path: Path, results: dict, cpu: dict, device_label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(results)
    fig, axes = plt.subplots(len(envs), 2, figsize=(11, 3.6 * len(envs)), squeeze=False)
    for row, env_id in zip(axes, envs):
        wall, steps, ret = curve(results[env_id]["rows"])
        for ax, x, label in ((row[0], wall, "wall-clock seconds (compilation included)"), (row[1], steps, "env steps")):
            ax.plot(x, ret, color="C0", alpha=0.25, lw=0.8)
            if len(ret) >= 5:
                ax.plot(x[4:], smooth(ret), color="C0", lw=1.8, label=f"GPU: PPO gpu preset ({device_label})")
            if env_id in cpu:
                pts = sorted(cpu[env_id])
                cx = [p[2] if ax is row[0] else p[0] for p in pts]
                ax.plot(
                    cx, [p[1] for p in pts], "s--", color="C3", label="CPU path: PPO spinningup, 2 cores (onpolicy-1m)"
                )
            if env_id in TARGETS:
                ax.axhline(TARGETS[env_id], color="gray", ls=":", lw=1, label=f"target {TARGETS[env_id]:.0f}")
            ax.set_xlabel(label)
            ax.set_ylabel("training episode return")
            ax.set_title(env_id)
            ax.grid(alpha=0.3)
        row[0].set_xlim(left=0)  # the time before the first point is kernel compilation and the first episodes
        if len(steps):  # a task with no finished episode yet has no curve (a tiny run)
            row[1].set_xscale("log")
        if row[0].get_legend_handles_labels()[0]:  # a tiny run's task may have no curve and no target
            row[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_ppo", help="folder for gpu_ppo.md/.png and CSVs")
    p.add_argument(
        "--envs",
        nargs="+",
        default=list(ENVS),
        choices=TASKS,
        help="tasks to train, in this order (default: HalfCheetah-v5 Hopper-v5)",
    )
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch and warp device (default: cuda when available)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        nargs="+",
        default=[200.0],
        help="training wall-clock seconds per task, from before the worlds are built (compilation "
        "counts): one value for every task, or one per task of --envs",
    )
    p.add_argument(
        "--deadline-s",
        type=float,
        default=560.0,
        help="stop starting new phases after this many seconds in all (device time is rationed)",
    )
    p.add_argument(
        "--max-iters", type=int, default=0, help="stop each task after this many iterations (0: budget only)"
    )
    p.add_argument("--num-envs", type=int, default=0, help="worlds (default: the gpu preset's 4096)")
    p.add_argument("--num-steps", type=int, default=0, help="steps per world per iteration (default: the preset's 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device-label", default="NVIDIA H100 80GB HBM3", help="with --replot: the device named in the legend"
    )
    p.add_argument("--eval-envs", type=int, default=512, help="worlds of the final deterministic evaluation")
    p.add_argument(
        "--eval-steps", type=int, default=1000, help="steps of the final evaluation (1000 = one full episode)"
    )
    p.add_argument(
        "--throughput-iters",
        type=int,
        default=8,
        help="timed iterations of the graph-vs-eager throughput rows (0: skip)",
    )
    p.add_argument(
        "--throughput-env",
        default=None,
        choices=TASKS,
        help="task of the throughput rows (default: the first of --envs)",
    )
    p.add_argument("--no-test", action="store_true", help="skip running the compiled == eager tests")
    p.add_argument("--print-every", type=int, default=20, help="print a progress line every N iterations")
    p.add_argument("--replot", action="store_true", help="only redraw gpu_ppo.png from the CSVs in --out")
    args = p.parse_args(argv)
    if len(args.budget_s) not in (1, len(args.envs)):
        p.error(f"--budget-s: give one value or one per task of --envs ({len(args.envs)}), not {len(args.budget_s)}")
    if args.replot:
        results = {e: {"rows": read_csv(args.out / f"gpu_ppo_{e}.csv")} for e in args.envs}
        plot(args.out / "gpu_ppo.png", results, cpu_reference(), args.device_label)
        return 0
    start = time.perf_counter()
    deadline = start + args.deadline_s
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    test_status, test_line = ("skipped (--no-test)", "") if args.no_test else run_equality_test(120)
    print("compiled == eager tests:", test_status, test_line, flush=True)

    results: dict[str, dict] = {}
    errors: list[str] = []
    for env_id in args.envs:
        if time.perf_counter() > deadline:
            print(f"deadline reached: {env_id} not trained", flush=True)
            break
        try:
            rows, agent = train(env_id, args, deadline)
        except Exception as e:
            errors.append(f"{env_id}: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
            print("ERROR", errors[-1], flush=True)
            continue
        captured = agent._update_phase.captured
        ev = evaluate(agent, env_id, args)
        agent.envs.close()
        write_csv(args.out / f"gpu_ppo_{env_id}.csv", rows, COLUMNS)
        sps = [r["charts/SPS"] for r in rows[3:]] or [r["charts/SPS"] for r in rows]
        results[env_id] = {
            "rows": rows,
            "eval": ev,
            "captured": captured,
            "sps": float(np.median(sps)),
            "hit": first_time_reaching(rows, TARGETS[env_id]) if env_id in TARGETS else None,
        }
        print(env_id, "eval", ev, "median SPS", results[env_id]["sps"], "graph", captured, flush=True)

    tp: dict[str, float] = {}
    tp_env = args.throughput_env or args.envs[0]
    if args.throughput_iters > 0 and time.perf_counter() < deadline - 30:
        for compile_ in (True, False):
            tp["CUDA graph update (--compile)" if compile_ else "eager update"] = throughput(tp_env, args, compile_)
        print("throughput", tp, flush=True)

    from rlmeta.agents.onpolicy.ppo import PPOConfig

    cpu = cpu_reference()
    dev_label = torch.cuda.get_device_name(device) if device.type == "cuda" else "Warp CPU device"
    cmd = "python benchmarks/gpu_ppo.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    cfg = make_config(args.envs[0], args)
    lines = [
        "# PPO on one GPU: mujoco-warp worlds, `--preset gpu`",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}, device {dev_label}, seed {args.seed}, one seed per task, "
        f"{' / '.join(f'{budget_of(e, args):.0f}' for e in args.envs)} s of wall time per task "
        f"({', '.join(args.envs)}) from before the worlds are built (kernel compilation and CUDA-graph "
        "capture included).",
        "",
        f"Preset: {cfg.num_envs} worlds x {cfg.num_steps} steps, {cfg.update_epochs} epochs x "
        f"{cfg.num_minibatches} minibatches, hidden {cfg.hidden_sizes} {cfg.activation}, adaptive-KL lr "
        f"(desired {cfg.desired_kl}), staggered starts, obs + reward normalisation on the device; per-task "
        "changes (agents/onpolicy/ppo.py GPU_TASK_SETTINGS): "
        + (
            "; ".join(
                f"{e} {PPOConfig.task_overrides('gpu', e)}" for e in args.envs if PPOConfig.task_overrides("gpu", e)
            )
            or "none"
        )
        + ".",
        "",
    ]
    if device.type != "cuda":
        lines += [
            "**CPU run (Warp's CPU device)**: a correctness run of this script, not a measurement of "
            "GPU speed or learning.",
            "",
        ]
    lines += [
        f"Compiled == eager tests (tests/test_ppo_compile.py, on this machine): **{test_status}** {test_line}",
        "",
        "| task | iterations | env steps | wall s | median env-steps/s | update as CUDA graph | "
        "final training return (mean of last 5) | deterministic eval (mean +- std, worlds) | "
        "target | reached target at |",
        "|---|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for env_id, r in results.items():
        rows = r["rows"]
        _, _, ret = curve(rows)
        final = float(np.mean(ret[-5:])) if len(ret) else float("nan")
        m, s, n = r["eval"]
        if env_id in TARGETS:
            target = f"return {TARGETS[env_id]:.0f} within 300 s"
            hit = f"{r['hit'][0]:.0f} s, {r['hit'][1] / 1e6:.1f}M steps" if r["hit"] else "not reached"
            if r["hit"]:
                hit += " (met)" if r["hit"][0] <= 300 else " (later than 300 s)"
        elif env_id in THROUGHPUT_TARGETS:
            target = f"{THROUGHPUT_TARGETS[env_id]:,.0f} env-steps/s"
            hit = "met" if r["sps"] >= THROUGHPUT_TARGETS[env_id] else "not met"
        else:
            target, hit = "-", "-"
        lines.append(
            f"| {env_id} | {len(rows)} | {rows[-1]['global_step']:,} | {rows[-1]['wall_s']:.0f} | "
            f"{r['sps']:,.0f} | {'yes' if r['captured'] else 'no'} | {final:.0f} | {m:.0f} +- {s:.0f} ({n}) | "
            f"{target} | {hit} |"
        )
    lines += [f"\nERROR {e}" for e in errors]
    if tp:
        lines += [
            "",
            f"End-to-end throughput, {tp_env} (collect + update, median of {args.throughput_iters} "
            "iterations after 2 warm-up iterations):",
            "",
            "| update phase | env-steps/s |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v:,.0f} |" for k, v in tp.items()]
        if tp_env in THROUGHPUT_TARGETS:
            best = max(tp.values())
            lines += [
                "",
                f"Target {THROUGHPUT_TARGETS[tp_env]:,.0f} env-steps/s on {tp_env}: "
                f"**{'met' if best >= THROUGHPUT_TARGETS[tp_env] else 'not met'}** ({best:,.0f}).",
            ]
    if cpu:
        lines += [
            "",
            "CPU path for comparison (benchmarks/results/onpolicy-1m, PPO spinningup preset, 2 CPU cores, "
            "mean of 2 seeds): "
            + "; ".join(
                f"{e} {v[-1][1]:.0f} at {v[-1][0] / 1e6:.0f}M steps in {v[-1][2] / 60:.1f} min" for e, v in cpu.items()
            ),
            "",
        ]
    lines += [
        "",
        "Curves: thin line per iteration, thick the 5-iteration running mean; CSV per task beside this file.",
        "",
        "![curves](gpu_ppo.png)",
        "",
    ]
    (args.out / "gpu_ppo.md").write_text("\n".join(lines))
    if results:
        plot(args.out / "gpu_ppo.png", results, cpu, dev_label)
    print("\n".join(lines))
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
