"""Off-policy agents on one GPU (the off-policy GPU check): Spinning Up's protocol (one env, one update per
env step) with the update eager and replayed as CUDA graphs (`--compile` on CUDA), K seeds in one
process (`--seeds K`), and the captured == eager check.

One command on a GPU machine with the `gpu` extra installed (a few minutes on an H100), writing
gpu_offpolicy.md, gpu_offpolicy.png and gpu_offpolicy.csv into --out:
    python benchmarks/gpu_offpolicy.py --out benchmarks/results/gpu_offpolicy
The test suite runs it in a tiny configuration on the CPU (tests/test_gpu_offpolicy.py; there the
"CUDA graph" rows run eagerly, CapturedFn's fallback, and say so):
    python benchmarks/gpu_offpolicy.py --device cpu --steps 60 --start-steps 40 --hidden 32 --seeds 2 --out /tmp/gpu_off

Rows: env-steps/s of `agent.iteration()` over --steps env steps after --start-steps random ones and a
warm-up phase (capture happens there), on HalfCheetah-v5 with the CPU MuJoCo env (the Spinning Up
protocol steps one env; the update is what the GPU speeds up). Targets (on an H100/H200): SAC
>= 1500 env-steps/s, TD3 >= 2000.

Parallel worlds (`--preset gpu`, mujoco-warp, 1024 worlds, after FastTD3/FastSAC): SAC and TD3 on
HalfCheetah-v5 and Hopper-v5, one seed each, each trained for --worlds-budget-s of wall time counted
from before its worlds are built (warp kernel compilation and CUDA-graph capture included), then
--worlds-eval-episodes deterministic test episodes. Reported: env-steps/s, the best training return
(mean over the episodes of one log row: exploration noise on) and when the target was first reached,
and the test return. Targets: HalfCheetah >= 10,000, Hopper >= 3000 within 5 minutes.
Four 5-minute runs do not fit the script's 8 minutes, so by default each run gets 75 s and every run
is shrunk to end before --deadline-s (default 420 s for the whole script); a full 5-minute check of
one task is its own call, e.g.
    python benchmarks/gpu_offpolicy.py --phases worlds --worlds-algos td3 --worlds-envs HalfCheetah-v5 \
        --worlds-budget-s 300 --out benchmarks/results/gpu_offpolicy_td3_hc
TF32 matmuls are on in the worlds phase (off for the equality check). Extra outputs:
gpu_offpolicy_worlds.csv (one row per run) and gpu_offpolicy_curves.csv (return against wall time).

The equality check: DDPG, and TD3 with target_noise 0 (the CUDA graph's RNG offsets differ from eager
draws, so noisy losses cannot be compared draw for draw), trained from the same state on the same
minibatches with the update eager and captured: parameters after --check-updates updates must agree
to float tolerance (TF32 is off for it).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).parent / "results"
TARGETS = {"sac": 1500.0, "td3": 2000.0}
RETURN_TARGETS = {"HalfCheetah-v5": 10_000.0, "Hopper-v5": 3000.0}  # within 5 minutes of wall time


# the wall clock of the budgets and deadlines (a test swaps in a clock that ticks per call, so the
# budget logic is checked without depending on the machine's speed or a cold kernel cache)
clock = time.perf_counter


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def config(algo: str, args: argparse.Namespace, **over):
    from rlmeta.agents.offpolicy.ddpg import DDPGConfig
    from rlmeta.agents.offpolicy.sac import SACConfig
    from rlmeta.agents.offpolicy.td3 import TD3Config

    Cfg = {"sac": SACConfig, "td3": TD3Config, "ddpg": DDPGConfig}[algo]
    # Spinning Up's protocol with one update per env step (update_every 1): the measure
    kw = dict(
        env=args.env,
        device=args.device,
        seed=args.seed,
        total_steps=10**12,
        progress=False,
        start_steps=args.start_steps,
        update_after=args.start_steps,
        update_every=1,
        eval_every=0,
        log_every=args.chunk,
        hidden_sizes=(args.hidden, args.hidden),
        env_threads=1,
    )
    return Cfg().replace(**{**kw, **over})


def throughput(algo: str, args: argparse.Namespace, compile: bool, seeds: int = 1) -> float:
    """env-steps/s (all seeds together) of the training loop after the random steps and a warm-up."""
    from rlmeta.app.multiseed import SeedRNG, StackedSeeds, lockstep_iteration
    from rlmeta.app.runner import build_agent
    from rlmeta.core.seeding import rng_state

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
    from rlmeta.app.runner import build_agent

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
            diff = max(
                (getattr(fast, n).flat - getattr(eager, n).flat).abs().max().item() for n in ("actor_opt", "critic_opt")
            )
            out.append((algo, diff, diff < 1e-3))
        finally:
            for a in pair:
                a.envs.close()
    return out


def worlds_run(algo: str, env_id: str, args: argparse.Namespace, budget_s: float) -> tuple[dict, list[dict]]:
    """Train `--preset gpu` on env_id for budget_s seconds of wall time (from before the worlds are
    built), then run the test episodes. -> (summary row, curve rows)"""
    from rlmeta.agents.offpolicy.sac import SACConfig
    from rlmeta.agents.offpolicy.td3 import TD3Config
    from rlmeta.app.runner import build_agent

    Cfg = {"sac": SACConfig, "td3": TD3Config}[algo]
    n = args.worlds
    # the preset's compile means CUDA-graph updates; on a CPU device (the tiny check in the tests) the
    # update stays eager, as in the throughput phase, rather than spend its seconds compiling
    over = dict(
        env=env_id,
        device=args.device,
        seed=args.seed,
        progress=False,
        total_steps=10**12,
        eval_every=0,
        log_every=args.worlds_log_every * n,
        checkpoint_every=10**12,
        compile=torch.device(args.device).type == "cuda",
    )
    if n != Cfg.presets()["gpu"].num_envs:  # keep the preset's per-vector-step shape for other world counts
        over.update(
            num_envs=n, update_every=n, utd_ratio=2 / n, start_steps=10 * n, update_after=10 * n, buffer_size=10_000 * n
        )
    if args.worlds_batch:
        over["batch_size"] = args.worlds_batch
    if args.worlds_hidden:
        over["hidden_sizes"] = tuple(args.worlds_hidden)
    if args.worlds_eval_episodes:
        over.update(eval_episodes=args.worlds_eval_episodes, eval_envs=args.worlds_eval_episodes)
    cfg = Cfg.presets()["gpu"].replace(**over)
    device = torch.device(args.device)
    target = RETURN_TARGETS.get(env_id, float("inf"))
    t0 = clock()
    agent = build_agent(algo, cfg)
    curve: list[dict] = []
    best, reached_at, reached_step = float("-inf"), None, None
    try:
        while clock() - t0 < budget_s:
            m = agent.iteration()  # one host sync per call (the log row's metrics)
            t = clock() - t0
            ret = m.get("charts/episodic_return")
            if ret is not None:
                curve.append(
                    {
                        "algo": algo,
                        "env": env_id,
                        "time_s": round(t, 2),
                        "env_steps": agent.global_step,
                        "episodic_return": ret,
                    }
                )
                best = max(best, ret)
                if reached_at is None and ret >= target:
                    reached_at, reached_step = t, agent.global_step
        sync(device)
        wall = clock() - t0
        steps = agent.global_step
        test = float("nan")
        if args.worlds_eval_episodes:
            ev = agent.loop.evaluate(agent.act, seed=args.seed + 1_000_003)
            test = ev.get("charts/test_return", float("nan"))
    finally:
        agent.envs.close()
    row = {
        "algo": algo,
        "env": env_id,
        "worlds": n,
        "budget_s": round(budget_s, 1),
        "wall_s": round(wall, 1),
        "env_steps": steps,
        "env_steps_per_s": round(steps / wall, 1),
        "updates": agent.loop.num_updates,
        "best_train_return": round(best, 1) if curve else "",
        "target": target,
        "reached_at_s": round(reached_at, 1) if reached_at is not None else "",
        "reached_at_steps": reached_step if reached_step is not None else "",
        "test_return": round(test, 1) if test == test else "",
    }
    return row, curve


def worlds_phase(args: argparse.Namespace, start: float) -> tuple[list[dict], list[dict], str]:
    """All (algo, env) runs of the parallel-worlds phase, each shrunk to end before --deadline-s.
    -> (summary rows, curve rows, a note: empty, or why the phase did not run)"""
    try:
        import mujoco_warp  # noqa: F401
        import warp  # noqa: F401
    except ImportError as e:
        return [], [], f"not run: mujoco-warp / warp-lang missing ({e})"
    if torch.device(args.device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    runs = [(a, e) for a in args.worlds_algos for e in args.worlds_envs]
    rows, curves = [], []
    for i, (algo, env_id) in enumerate(runs):
        left = args.deadline_s - (clock() - start)
        # what is left, shared by the runs still to go; each also needs ~eval_s after its budget
        budget = min(args.worlds_budget_s, left / (len(runs) - i) - args.worlds_eval_s)
        if budget < args.worlds_min_s:
            rows.append({"algo": algo, "env": env_id, "budget_s": 0, "note": "skipped: --deadline-s reached"})
            continue
        row, curve = worlds_run(algo, env_id, args, budget)
        rows.append(row)
        curves += curve
        print(f"{algo} {env_id} parallel worlds: {row}", flush=True)
    return rows, curves, ""


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
    p.add_argument(
        "--phases",
        nargs="+",
        default=["throughput", "worlds"],
        choices=["throughput", "worlds"],
        help="throughput: the Spinning Up protocol rows and the equality check; worlds: --preset gpu",
    )
    p.add_argument("--worlds-algos", nargs="+", default=["sac", "td3"])
    p.add_argument("--worlds-envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5"])
    p.add_argument("--worlds", type=int, default=1024, help="parallel mujoco-warp worlds (the preset's 1024)")
    p.add_argument("--worlds-budget-s", type=float, default=75.0, help="wall time per run, set-up included")
    p.add_argument("--worlds-min-s", type=float, default=20.0, help="skip a run that would get less than this")
    p.add_argument("--worlds-eval-s", type=float, default=10.0, help="time kept per run for its test episodes")
    p.add_argument("--worlds-eval-episodes", type=int, default=16, help="test episodes after training (0: none)")
    p.add_argument("--worlds-log-every", type=int, default=50, help="vector steps per log row / curve point")
    p.add_argument("--worlds-batch", type=int, default=0, help="override the preset's batch (0: 32768)")
    p.add_argument("--worlds-hidden", type=int, nargs="+", default=None, help="override the preset's networks")
    p.add_argument("--deadline-s", type=float, default=420.0, help="the whole script ends within about this")
    args = p.parse_args(argv)
    from rlmeta.benchmarks.report import machine_line

    start = clock()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    cuda = torch.device(args.device).type == "cuda"
    graph_label = "CUDA graph update (--compile)" if cuda else "CUDA graph update (--compile; eager on the CPU)"
    rows = []
    for algo in args.algos if "throughput" in args.phases else []:
        for label, kw in (
            ("eager update", dict(compile=False)),
            (graph_label, dict(compile=cuda)),
            *(
                [(f"--seeds {args.seeds}, eager vmapped update", dict(compile=False, seeds=args.seeds))]
                if args.seeds > 1
                else []
            ),
        ):
            sps = throughput(algo, args, **kw)
            rows.append({"algo": algo, "mode": label, "env_steps_per_s": sps})
            print(f"{algo} {label}: {sps:.1f} env-steps/s", flush=True)
    checks = equality_check(args) if "throughput" in args.phases else []
    for algo, diff, ok in checks:
        print(f"captured == eager, {algo}: max abs diff {diff:.2e} ({'ok' if ok else 'FAILED'})", flush=True)
    w_rows, curves, w_note = worlds_phase(args, start) if "worlds" in args.phases else ([], [], "not run (--phases)")
    minutes = (clock() - start) / 60
    if w_rows:
        fields = list(dict.fromkeys(k for r in w_rows for k in r))
        with (args.out / "gpu_offpolicy_worlds.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(w_rows)
        with (args.out / "gpu_offpolicy_curves.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["algo", "env", "time_s", "env_steps", "episodic_return"])
            w.writeheader()
            w.writerows(curves)

    with (args.out / "gpu_offpolicy.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["algo", "mode", "env_steps_per_s"])
        w.writeheader()
        w.writerows(rows)
    cmd = "python benchmarks/gpu_offpolicy.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Off-policy agents on one GPU",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}; device {args.device}  ",
        f"Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; whole script {minutes:.1f} min.",
        "",
    ]
    if rows:
        lines += [
            f"Spinning Up protocol: {args.env}, one env, one update per env step, batch 100, ({args.hidden}, "
            f"{args.hidden}) networks; {args.steps} timed env steps per row after {args.start_steps} random and "
            f"{args.chunk} warm-up steps.",
            "",
            "| algo | mode | env-steps/s | target |",
            "|---|---|---:|---:|",
        ]
    for r in rows:
        target = TARGETS.get(r["algo"]) if "graph" in r["mode"] else None
        met = "" if target is None else f"{target:.0f} ({'met' if r['env_steps_per_s'] >= target else 'not met'})"
        lines.append(f"| {r['algo']} | {r['mode']} | {r['env_steps_per_s']:.1f} | {met} |")
    if checks:
        lines += ["", "Captured == eager (same state, same minibatches; TF32 off):", ""]
    lines += [
        f"- {algo}: max abs parameter difference after {args.check_updates} updates {diff:.2e}: "
        f"{'ok' if ok else 'FAILED'}"
        for algo, diff, ok in checks
    ]
    lines += [
        "",
        f"Parallel worlds (`--preset gpu`, {args.worlds} mujoco-warp worlds, one seed, wall time from before "
        "the worlds are built; training return = mean of one log row's episodes, exploration on; test = "
        f"{args.worlds_eval_episodes} deterministic episodes after the budget; TF32 on):",
        "",
    ]
    if w_note:
        lines.append(f"Parallel worlds: {w_note}.")
    else:
        lines += [
            "| algo | env | budget | env-steps/s | best training return | target reached at | test return | target |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in w_rows:
            if "note" in r:
                lines.append(f"| {r['algo']} | {r['env']} | - | - | - | - | - | {r['note']} |")
                continue
            reached = (
                f"{r['reached_at_s']} s ({r['reached_at_steps']:,} steps)" if r["reached_at_s"] != "" else "not reached"
            )
            tgt = f"{r['target']:,.0f} within 300 s"
            met = r["reached_at_s"] != "" and float(r["reached_at_s"]) <= 300
            lines.append(
                f"| {r['algo']} | {r['env']} | {r['budget_s']:.0f} s | {r['env_steps_per_s']:,.0f} | "
                f"{r['best_train_return'] if r['best_train_return'] != '' else '-'} | {reached} | "
                f"{r['test_return'] if r['test_return'] != '' else '-'} | {tgt}: {'met' if met else 'not met'}"
                f"{'' if met or r['budget_s'] >= 300 else ' (run shorter than 5 min)'} |"
            )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [k for k, ok in (("bars", rows), ("curves", curves)) if ok]
        if panels:
            fig, axes = plt.subplots(
                1, len(panels), figsize=(7 * len(panels), 0.8 + 0.45 * max(len(rows), 8)), squeeze=False
            )
            for ax, kind in zip(axes[0], panels):
                if kind == "bars":
                    ax.barh(range(len(rows)), [r["env_steps_per_s"] for r in rows])
                    ax.set_yticks(range(len(rows)), [f"{r['algo']}: {r['mode']}" for r in rows], fontsize=8)
                    ax.invert_yaxis()
                    ax.set_xlabel(f"env-steps/s ({args.device})")
                else:
                    for key in dict.fromkeys((c["algo"], c["env"]) for c in curves):
                        pts = [c for c in curves if (c["algo"], c["env"]) == key]
                        ax.plot([c["time_s"] for c in pts], [c["episodic_return"] for c in pts], label=" ".join(key))
                    for env_id, tgt in RETURN_TARGETS.items():
                        if any(c["env"] == env_id for c in curves):
                            ax.axhline(tgt, ls=":", c="gray")
                    ax.set_xlabel("wall time (s), set-up included")
                    ax.set_ylabel("training episodic return")
                    ax.set_title(f"--preset gpu, {args.worlds} worlds", fontsize=9)
                    ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(args.out / "gpu_offpolicy.png", dpi=110)
            lines += ["", "![throughput and parallel-worlds curves](gpu_offpolicy.png)"]
    except ImportError:
        pass
    (args.out / "gpu_offpolicy.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'gpu_offpolicy.md'}", flush=True)
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
