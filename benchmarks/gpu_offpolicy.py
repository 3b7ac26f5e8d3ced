"""Off-policy agents on one GPU (issue 15's GPU check): Spinning Up's protocol (one env, one update per
env step) with the update eager and replayed as CUDA graphs (`--compile` on CUDA), K seeds in one
process (`--seeds K`), and the captured == eager check.

One command on a GPU machine prepared with ../shared/device/ (a few minutes on an H100), writing
gpu_offpolicy.md, gpu_offpolicy.png and gpu_offpolicy.csv into --out:
    python benchmarks/gpu_offpolicy.py --out benchmarks/results/gpu_offpolicy
The test suite runs it in a tiny configuration on the CPU (tests/test_gpu_offpolicy.py; there the
"CUDA graph" rows run eagerly, CapturedFn's fallback, and say so):
    python benchmarks/gpu_offpolicy.py --device cpu --steps 60 --start-steps 40 --hidden 32 --seeds 2 --out /tmp/gpu_off

Rows: env-steps/s of `agent.iteration()` over --steps env steps after --start-steps random ones and a
warm-up phase (capture happens there), on HalfCheetah-v5 with the CPU MuJoCo env (the Spinning Up
protocol steps one env; the update is what the GPU speeds up). Targets (issue 15, H100/H200): SAC
>= 1500 env-steps/s, TD3 >= 2000. The parallel-worlds preset (mujoco-warp, thousands of worlds) is
not implemented yet: its rows read "not implemented".

The equality check: DDPG, and TD3 with target_noise 0 (the CUDA graph's RNG offsets differ from eager
draws, so noisy losses cannot be compared draw for draw), trained from the same state on the same
minibatches with the update eager and captured: parameters after --check-updates updates must agree
to float tolerance (TF32 is off for it).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results"
TARGETS = {"sac": 1500.0, "td3": 2000.0}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def config(algo: str, args: argparse.Namespace, **over):
    from agents.pg.ddpg import DDPGConfig
    from agents.pg.sac import SACConfig
    from agents.pg.td3 import TD3Config

    Cfg = {"sac": SACConfig, "td3": TD3Config, "ddpg": DDPGConfig}[algo]
    # Spinning Up's protocol with one update per env step (update_every 1): the measure
    kw = dict(env=args.env, device=args.device, seed=args.seed, total_steps=10**12, progress=False,
              start_steps=args.start_steps, update_after=args.start_steps, update_every=1, eval_every=0,
              log_every=args.chunk, hidden_sizes=(args.hidden, args.hidden), env_threads=1)
    return Cfg().replace(**{**kw, **over})


def throughput(algo: str, args: argparse.Namespace, compile: bool, seeds: int = 1) -> float:
    """env-steps/s (all seeds together) of the training loop after the random steps and a warm-up."""
    from rlmeta.multiseed import SeedRNG, StackedSeeds, lockstep_iteration
    from rlmeta.runner import build_agent
    from rlmeta.seeding import rng_state

    device = torch.device(args.device)
    agents, states = [], []
    for s in range(seeds):
        agents.append(build_agent(algo, config(algo, args, seed=args.seed + s, compile=compile)))
        states.append(rng_state())
    try:
        if seeds == 1:
            agent = agents[0]

            def advance(n: int) -> None:
                target = agent.global_step + n
                while agent.global_step < target:
                    agent.iteration()
        else:
            S, rng = StackedSeeds(agents, compile=False), SeedRNG(states)

            def advance(n: int) -> None:
                target = agents[0].global_step + n
                while agents[0].global_step < target:
                    lockstep_iteration(agents, S, rng)
        advance(args.start_steps)
        advance(args.chunk)  # warm-up: CUDA graph capture, cuBLAS handles
        sync(device)
        t0 = time.perf_counter()
        advance(args.steps)
        sync(device)
        return seeds * args.steps / (time.perf_counter() - t0)
    finally:
        for a in agents:
            a.envs.close()


def equality_check(args: argparse.Namespace) -> list[tuple[str, float, bool]]:
    """(algo, max |captured - eager| over the parameters, ok) for DDPG and noiseless TD3."""
    from rlmeta.runner import build_agent

    torch.backends.cuda.matmul.allow_tf32 = False
    out = []
    for algo, over in (("ddpg", {}), ("td3", {"target_noise": 0.0})):
        pair = [build_agent(algo, config(algo, args, compile=c, **over)) for c in (False, True)]
        try:
            eager, fast = pair
            for a in pair:  # the same random transitions in both buffers
                step = 0
                torch.manual_seed(0)
                while step < 2 * args.batch:
                    step = a.loop.collect(step, a.explore)
            update = fast.captured_update() if fast.graphs else fast.update
            g = torch.Generator(device=args.device).manual_seed(1)
            for _ in range(args.check_updates):
                idx = torch.randint(0, len(eager.loop.buffer), (args.batch,), device=args.device, generator=g)
                for a, fn in ((eager, eager.update), (fast, update)):
                    fn(a.loop.buffer.split(a.loop.buffer.data.index_select(0, idx)))
                    a.loop.num_updates += 1
            sync(torch.device(args.device))
            diff = max((getattr(fast, n).flat - getattr(eager, n).flat).abs().max().item()
                       for n in ("actor_opt", "critic_opt"))
            out.append((algo, diff, diff < 1e-3))
        finally:
            for a in pair:
                a.envs.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_offpolicy", help="folder for the .md/.png/.csv")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--algos", nargs="+", default=["sac", "td3"])
    p.add_argument("--steps", type=int, default=3000, help="timed env steps per row")
    p.add_argument("--start-steps", type=int, default=1000, help="random steps before the first update (not timed)")
    p.add_argument("--chunk", type=int, default=500, help="warm-up steps (not timed) and log_every")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--seeds", type=int, default=3, help="K of the --seeds K rows (1: skip them)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=100, help="minibatch of the equality check (the preset's batch)")
    p.add_argument("--check-updates", type=int, default=20)
    args = p.parse_args(argv)
    from benchmarks.report import machine_line

    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    cuda = torch.device(args.device).type == "cuda"
    graph_label = "CUDA graph update (--compile)" if cuda else "CUDA graph update (--compile; eager on the CPU)"
    rows = []
    for algo in args.algos:
        for label, kw in (("eager update", dict(compile=False)), (graph_label, dict(compile=cuda)),
                          *([(f"--seeds {args.seeds}, eager vmapped update", dict(compile=False, seeds=args.seeds))]
                            if args.seeds > 1 else [])):
            sps = throughput(algo, args, **kw)
            rows.append({"algo": algo, "mode": label, "env_steps_per_s": sps})
            print(f"{algo} {label}: {sps:.1f} env-steps/s", flush=True)
    checks = equality_check(args)
    for algo, diff, ok in checks:
        print(f"captured == eager, {algo}: max abs diff {diff:.2e} ({'ok' if ok else 'FAILED'})", flush=True)
    minutes = (time.perf_counter() - start) / 60

    with (args.out / "gpu_offpolicy.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["algo", "mode", "env_steps_per_s"])
        w.writeheader()
        w.writerows(rows)
    cmd = "python benchmarks/gpu_offpolicy.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["# Off-policy agents on one GPU (issue 15)", "", f"Command: `{cmd.strip()}`  ",
             f"Machine: {machine_line()}; device {args.device}  ",
             f"Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.env}, one env, one update per "
             f"env step, batch 100, ({args.hidden}, {args.hidden}) networks; {args.steps} timed env steps per row after "
             f"{args.start_steps} random and {args.chunk} warm-up steps; whole script {minutes:.1f} min.", "",
             "| algo | mode | env-steps/s | target |", "|---|---|---:|---:|"]
    for r in rows:
        target = TARGETS.get(r["algo"]) if "graph" in r["mode"] else None
        met = "" if target is None else f"{target:.0f} ({'met' if r['env_steps_per_s'] >= target else 'not met'})"
        lines.append(f"| {r['algo']} | {r['mode']} | {r['env_steps_per_s']:.1f} | {met} |")
    lines += ["| sac, td3 | parallel worlds (mujoco-warp `--preset gpu`) | not implemented | HalfCheetah 10,000 / "
              "Hopper 3000 within 5 min |", "", "Captured == eager (same state, same minibatches; TF32 off):", ""]
    lines += [f"- {algo}: max abs parameter difference after {args.check_updates} updates {diff:.2e}: "
              f"{'ok' if ok else 'FAILED'}" for algo, diff, ok in checks]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(rows)))
        ax.barh(range(len(rows)), [r["env_steps_per_s"] for r in rows])
        ax.set_yticks(range(len(rows)), [f"{r['algo']}: {r['mode']}" for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(f"env-steps/s ({args.device})")
        fig.tight_layout()
        fig.savefig(args.out / "gpu_offpolicy.png", dpi=110)
        lines += ["", "![throughput](gpu_offpolicy.png)"]
    except ImportError:
        pass
    (args.out / "gpu_offpolicy.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'gpu_offpolicy.md'}", flush=True)
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
