"""Env-steps/s of the mujoco-warp backend vs number of worlds, next to the CPU paths of the same
machine (gymnasium's vector envs, rlmeta's batched MuJoCo backend, mujoco.rollout), for
HalfCheetah-v5 and Hopper-v5; optionally end-to-end PPO training throughput (warp vs CPU path).

On a GPU the warp backend runs there (CUDA graphs); without one it runs on Warp's CPU device, which
is only a correctness path (CI), not a fast one: the report names the device it ran on.
An env step is frame_skip physics steps (HalfCheetah 5, Hopper 4 with RK4). Rows:
- warp physics only: `WarpBackend.simulate()` (frame_skip steps of every world, nothing else);
- warp env step: `WarpBackend.step()` (physics + torch rewards/termination/obs + SAME_STEP autoreset);
- gymnasium Sync/AsyncVectorEnv (SAME_STEP autoreset), N sub-envs on the CPU;
- rlmeta batched MuJoCo backend (one MjData per env, a thread per core);
- mujoco.rollout, a thread per core: the CPU physics limit (no rewards, no resets).
Actions are uniform random (fixed seed); timings start after 3 warm-up steps.

Run (one command; on an H100 the default worlds are 1024..65536):
    .venv/bin/python benchmarks/gpu_throughput.py                  # writes benchmarks/results/gpu_throughput.{md,png}
    .venv/bin/python benchmarks/gpu_throughput.py --worlds 16 64 256 --steps 20 --ppo-iters 2   # CPU-sized
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.benchmarks.report import machine_line

RESULTS = Path(__file__).parent / "results"
ENVS = ("HalfCheetah-v5", "Hopper-v5")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], steps: int, device: torch.device) -> float:
    """Seconds per call of fn, after three warm-up calls (kernel module loads, allocator, caches)."""
    for _ in range(3):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / steps


# ---------------------------------------------------------------------- warp backend
def warp_rates(env_id: str, worlds: int, steps: int, device: torch.device) -> dict[str, float]:
    """-> {'setup_s', 'physics', 'env_step'}: env-steps/s of physics only and of full env steps."""
    from rlmeta.envs.mujoco.warp_backend import WarpBackend

    t0 = time.perf_counter()
    b = WarpBackend(env_id, worlds, device=device)
    b.reset(0)
    setup = time.perf_counter() - t0  # includes kernel compilation/cache loading and graph capture
    act_dim = b.single_action_space.shape[0]
    gen = torch.Generator(device=device).manual_seed(0)
    actions = torch.rand(steps + 3, worlds, act_dim, generator=gen, device=device) * 2 - 1
    b.ctrl.copy_(actions[0])
    physics = timed(b.simulate, steps, device)
    it = iter(actions)
    env_step = timed(lambda: b.step(next(it)), steps, device)
    b.close()
    return {"setup_s": setup, "physics": worlds / physics, "env_step": worlds / env_step}


# ---------------------------------------------------------------------- CPU references
def gym_vector_rate(env_id: str, n: int, steps: int, asynchronous: bool) -> float:
    from rlmeta.envs.gym_backend import GymBackend

    b = GymBackend(env_id, n, asynchronous=asynchronous)
    b.reset(0)
    a = np.random.default_rng(0).uniform(-1, 1, (steps + 3, n, b.single_action_space.shape[0]))
    it = iter(a)
    sec = timed(lambda: b.step(next(it)), steps, torch.device("cpu"))
    b.close()
    return n / sec


def batched_rate(env_id: str, n: int, steps: int, threads: int) -> float:
    from rlmeta.envs.mujoco.batched import MujocoBatchBackend

    b = MujocoBatchBackend(env_id, n, threads=threads)
    b.reset(0)
    a = np.random.default_rng(0).uniform(-1, 1, (steps + 3, n, b.single_action_space.shape[0]))
    it = iter(a)
    sec = timed(lambda: b.step(next(it)), steps, torch.device("cpu"))
    b.close()
    return n / sec


def rollout_rate(env_id: str, n: int, steps: int, threads: int) -> float:
    """env-steps/s of mujoco.rollout over n initial states (frame_skip physics steps per env step)."""
    import gymnasium as gym
    import mujoco
    from mujoco import rollout

    env = gym.make(env_id)
    u = env.unwrapped
    model, skip = u.model, u.frame_skip
    data = [mujoco.MjData(model) for _ in range(threads)]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state0 = np.zeros(mujoco.mj_stateSize(model, spec))
    env.reset(seed=0)
    mujoco.mj_getState(model, u.data, state0, spec)
    init = np.tile(state0, (n, 1))
    ctrl = np.random.default_rng(0).uniform(-1, 1, (n, steps * skip, model.nu))
    rollout.rollout(model, data, init, ctrl[:, :skip])  # warm-up (thread pool)
    t0 = time.perf_counter()
    rollout.rollout(model, data, init, ctrl)
    env.close()
    return n * steps / (time.perf_counter() - t0)


# ---------------------------------------------------------------------- PPO end to end
def ppo_rate(env_id: str, backend: str, num_envs: int, num_steps: int, iters: int, device: str, threads: int) -> float:
    """env-steps/s of rlmeta PPO (cleanrl preset, 32 minibatches x 10 epochs) over `iters` iterations
    after a warm-up iteration, collect + update."""
    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.app.runner import build_agent

    cfg = PPOConfig.presets()["cleanrl"].replace(
        env=env_id,
        env_backend=backend,
        num_envs=num_envs,
        num_steps=num_steps,
        total_steps=10**12,
        progress=False,
        device=device,
        env_threads=threads,
    )
    agent = build_agent("ppo", cfg)
    try:
        agent.iteration()
        sync(agent.device)
        t0, s0 = time.perf_counter(), agent.global_step
        for _ in range(iters):
            agent.iteration()
        sync(agent.device)
        return (agent.global_step - s0) / (time.perf_counter() - t0)
    finally:
        agent.envs.close()


# ---------------------------------------------------------------------- report
def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA, Warp CUDA graphs)"
    return "Warp's CPU device (no GPU: a correctness path, not a fast one)"


def plot(path: Path, rows: dict, cpu_rows: dict, dev_label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(5.6 * len(rows), 5.0), dpi=110, squeeze=False)
    for ax, env_id in zip(axes[0], rows):
        w = sorted(rows[env_id])
        ax.plot(w, [rows[env_id][n]["physics"] for n in w], "o-", label="warp: physics only")
        ax.plot(w, [rows[env_id][n]["env_step"] for n in w], "s-", label="warp: env step (rewards, autoreset)")
        for ((name, n), v), marker in zip(cpu_rows[env_id].items(), "xv^DP*"):
            ax.scatter([n], [v], marker=marker, s=45, zorder=3, label=f"CPU: {name}, {n} envs")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("worlds / parallel envs")
        ax.set_ylabel("env-steps per second")
        ax.set_title(env_id, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.suptitle(f"MuJoCo env-steps/s vs worlds; warp on {dev_label}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=ENVS)
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="where the warp worlds run (default: cuda when available)",
    )
    p.add_argument(
        "--worlds",
        type=int,
        nargs="+",
        default=None,
        help="warp batch sizes (default: 1024..65536 on cuda, 16 64 256 on cpu)",
    )
    p.add_argument("--steps", type=int, default=None, help="timed env steps per warp size (default 200 cuda, 20 cpu)")
    p.add_argument("--cpu-steps", type=int, default=300, help="timed env steps of the CPU references")
    p.add_argument("--ppo-iters", type=int, default=3, help="timed PPO iterations per configuration (0: skip PPO)")
    p.add_argument("--ppo-worlds", type=int, default=None, help="warp worlds for PPO (default 4096 cuda, 64 cpu)")
    p.add_argument("--note", default="", help="free text for the report (e.g. other load on the machine)")
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_throughput")
    args = p.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    worlds = args.worlds or ([1024, 4096, 16384, 65536] if cuda else [16, 64, 256])
    steps = args.steps or (200 if cuda else 20)
    ppo_worlds = args.ppo_worlds or (4096 if cuda else 64)
    cores = os.cpu_count() or 1
    torch.set_num_threads(1)

    rows: dict[str, dict[int, dict[str, float]]] = {}
    cpu_rows: dict[str, dict[tuple[str, int], float]] = {}
    ppo: dict[str, dict[str, float]] = {}
    for env_id in args.envs:
        rows[env_id] = {}
        for n in worlds:
            rows[env_id][n] = warp_rates(env_id, n, steps, device)
            print(env_id, n, {k: round(v) for k, v in rows[env_id][n].items()}, flush=True)
        cpu = {
            ("gymnasium SyncVectorEnv", 1): gym_vector_rate(env_id, 1, args.cpu_steps, False),
            ("gymnasium SyncVectorEnv", cores): gym_vector_rate(env_id, cores, args.cpu_steps // cores + 1, False),
        }
        if cores > 2:  # on 2 cores the pipes cost more than the physics (design.md)
            cpu[("gymnasium AsyncVectorEnv", cores)] = gym_vector_rate(env_id, cores, args.cpu_steps // 4, True)
        n_cpu = 8 * cores
        cpu[("rlmeta batched MuJoCo", n_cpu)] = statistics.median(
            batched_rate(env_id, n_cpu, max(args.cpu_steps // 8, 10), cores) for _ in range(3)
        )
        cpu[("mujoco.rollout", n_cpu)] = statistics.median(
            rollout_rate(env_id, n_cpu, max(args.cpu_steps // 4, 20), cores) for _ in range(3)
        )
        cpu_rows[env_id] = cpu
        print(env_id, {f"{k[0]} x{k[1]}": round(v) for k, v in cpu.items()}, flush=True)
        if args.ppo_iters > 0:
            ppo[env_id] = {
                f"warp, {ppo_worlds} worlds x 16 steps, torch on {device.type}": ppo_rate(
                    env_id, "warp", ppo_worlds, 16, args.ppo_iters, device.type, cores
                ),
                f"CPU path: batched MuJoCo, {2 * cores} envs x {2048 // (2 * cores)} steps, torch on cpu": ppo_rate(
                    env_id, "mujoco", 2 * cores, 2048 // (2 * cores), args.ppo_iters, "cpu", cores
                ),
            }
            print(env_id, {k: round(v) for k, v in ppo[env_id].items()}, flush=True)

    dev_label = device_name(device)
    cmd = "python benchmarks/gpu_throughput.py " + " ".join(sys.argv[1:])
    lines = [
        "# MuJoCo env-steps/s: mujoco-warp backend vs CPU paths",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Warp device: {dev_label}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}; warp: {steps} timed env steps per size after 3 warm-up steps; "
        f"CPU references: {cores} threads/processes where parallel, median of 3 where marked.",
        "",
    ]
    if args.note:
        lines += [f"Note: {args.note}", ""]
    if not cuda:
        lines += [
            "**This is a CPU run**: Warp's CPU device executes mujoco-warp's kernels one Python launch at a "
            "time (354 launches per Hopper physics step, counted with cProfile), so its rate is set by "
            "launch overhead and says nothing about GPU throughput. Rerun with the command above on a GPU "
            "machine for the real numbers (target: >= 1M HalfCheetah env-steps/s physics on an H100).",
            "",
        ]
    for env_id in args.envs:
        lines += [
            f"## {env_id}",
            "",
            "| configuration | worlds / envs | env-steps/s | setup s |",
            "|---|---:|---:|---:|",
        ]
        for n, r in sorted(rows[env_id].items()):
            lines.append(f"| warp physics only | {n} | {r['physics']:,.0f} | {r['setup_s']:.1f} |")
            lines.append(f"| warp env step (rewards, obs, autoreset in torch) | {n} | {r['env_step']:,.0f} | |")
        for (name, n), v in cpu_rows[env_id].items():
            med = " (median of 3)" if name in ("rlmeta batched MuJoCo", "mujoco.rollout") else ""
            lines.append(f"| {name}{med}, CPU | {n} | {v:,.0f} | |")
        if env_id in ppo:
            lines += [
                "",
                "PPO training (cleanrl preset, 10 epochs x 32 minibatches, collect + update):",
                "",
                "| PPO configuration | env-steps/s |",
                "|---|---:|",
            ]
            lines += [f"| {k} | {v:,.0f} |" for k, v in ppo[env_id].items()]
            vals = list(ppo[env_id].values())
            lines += ["", f"warp / CPU path: {vals[0] / vals[1]:.2f}x (target on an H100: >= 20x)"]
        lines.append("")
    lines += [
        "Setup s: backend construction incl. Warp kernel compilation or cache load and (CUDA) graph capture.",
        "",
        f"![throughput]({args.out.name}.png)",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines))
    plot(args.out.with_suffix(".png"), rows, cpu_rows, dev_label)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
