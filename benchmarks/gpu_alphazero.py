"""AlphaZero on Connect Four on one GPU: the `connect4-gpu` preset (4096 self-play games at once;
search, network, replay buffer and learner all on the device; AlphaZero.jl's 128 x 5 ResNet),
trained for a fixed wall-clock budget and scored on Pascal Pons' six test sets at fixed wall-clock
intervals, raw policy and with a search (the evaluation code of `rlmeta eval connect4`), with
self-play throughput in games/s and simulations/s, next to the CPU run of
benchmarks/results/alphazero_connect4.md. The trained network is written as a small checkpoint
(config + weights, a few MB) that `rlmeta eval connect4`, `rlmeta arena` and `rlmeta play` load
on a CPU; the script loads it back on the CPU and checks that it plays the same raw-policy moves.

This is AlphaZero's GPU check: one command on a GPU machine with a CUDA torch (no other extra
needed), about 9 minutes on an H100, writing gpu_alphazero.md,
gpu_alphazero.png, gpu_alphazero_train.csv, gpu_alphazero_eval.csv and checkpoint.pt into --out:
    python benchmarks/gpu_alphazero.py --out benchmarks/results/gpu_alphazero
PUCT self-play instead of Gumbel: --search puct (and e.g. --num-simulations 64). The test suite runs
it in a tiny configuration on the CPU (tests/test_gpu_alphazero.py):
    python benchmarks/gpu_alphazero.py --device cpu --num-envs 16 --num-simulations 4 --channels 8 \\
        --blocks 1 --batch-size 32 --min-replay 16 --max-iters 2 --eval-every-s 0 --eval-sims 4 --limit 8 \\
        --out /tmp/gpu_az

Wall time: training seconds count self-play and learner iterations only (evaluations are timed
apart and left out), from before the agent is built. Targets: after at most 8 minutes
of training, the agent with a 600-simulation search makes no more mistakes than AlphaZero.jl on
each set, and the raw policy fewer than the depth-5 minimax on each set.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlmeta.benchmarks.report import machine_line, write_csv  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CPU_REPORT = RESULTS / "alphazero_connect4.md"  # the CPU run this one is compared with
BASELINES = RESULTS / "alphazero_connect4_baselines.json"  # minimax:5 and random, measured on the CPU
ORDER = ["Begin-Easy", "Middle-Easy", "End-Easy", "Begin-Medium", "Middle-Medium", "Begin-Hard"]  # AlphaZero.jl's
ALPHAZERO_JL = [0, 0, 0, 2, 2.5, 7]  # AlphaZero.jl's agent, 600-simulation search (published mistake rates, %)
TRAIN_COLUMNS = (
    "train_s",
    "global_step",
    "games",
    "moves_per_s",
    "selfplay_s",
    "losses/policy_loss",
    "losses/value_loss",
    "charts/replay_size",
    "charts/episodic_length",
    "charts/draw_rate",
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_config(args: argparse.Namespace):
    """The connect4-gpu preset with the command line's overrides (those given)."""
    from rlmeta.agents.alphazero.agent import AlphaZeroConfig

    over = {
        k: getattr(args, k)
        for k in (
            "num_envs",
            "num_simulations",
            "channels",
            "blocks",
            "batch_size",
            "updates_per_iteration",
            "moves_per_iteration",
            "replay_size",
            "min_replay",
            "lr",
            "search",
        )
        if getattr(args, k) is not None
    }
    # the preset's GPU settings (bfloat16 autocast, TF32, cuDNN benchmark) are config fields the agent
    # applies: `rlmeta train alphazero --preset connect4-gpu` runs what this script measures
    return AlphaZeroConfig.presets()["connect4-gpu"].replace(
        device=args.device, seed=args.seed, progress=False, bf16=args.amp, **over
    )


# ---------------------------------------------------------------------- evaluation
def search_player(agent, args: argparse.Namespace):
    """The trained network searching args.eval_sims simulations per move (no root noise)."""
    from rlmeta.agents.alphazero.players import NetworkPlayer

    cfg = agent.cfg.search_config(training=False)
    cfg.algorithm, cfg.num_simulations = args.eval_search, args.eval_sims
    return NetworkPlayer(agent.game.__class__(1, agent.device), agent.net, args.eval_sims, cfg)


class Positions:
    """Every position of the Pons sets as one batch on the device, with its optimal moves: one
    search over all sets at once (a search step costs about as much for 1000 positions as for
    5000 on a GPU), scored as agents/alphazero/evaluate.mistake_rate scores each set."""

    def __init__(self, sets: dict, device: torch.device):
        from rlmeta.envs.board import make

        self.names = list(sets)
        self.sizes = [len(sets[n].moves) for n in self.names]
        self.game = make("connect4", 1, device)
        self.state = self.game.from_moves([m for n in self.names for m in sets[n].moves])
        self.optimal = torch.cat([sets[n].optimal for n in self.names]).to(device)  # [P, 7]

    @torch.no_grad()
    def mistake_rates(self, player, batch: int) -> dict[str, float]:
        """{set name: mistake rate in %} of player (game, state -> actions)."""
        rows = torch.arange(self.optimal.shape[0], device=self.optimal.device)
        actions = torch.cat(
            [player(self.game, self.game.index(self.state, rows[i : i + batch])) for i in range(0, len(rows), batch)]
        ).long()
        wrong = ~self.optimal.gather(1, actions[:, None])[:, 0]
        return {n: 100.0 * float(w.float().mean()) for n, w in zip(self.names, wrong.split(self.sizes))}


def evaluate(agent, positions: Positions, args: argparse.Namespace) -> dict[str, float]:
    """Mistake rates (%) on each set: raw policy ('raw:SET') and with the search ('search:SET')."""
    out: dict[str, float] = {}
    for kind, player in (("raw", agent.player(0)), ("search", search_player(agent, args))):
        out.update({f"{kind}:{n}": v for n, v in positions.mistake_rates(player, args.eval_batch).items()})
    return out


# ---------------------------------------------------------------------- the checkpoint
def save_small_checkpoint(agent, path: Path) -> int:
    """Config + network weights on the CPU (no optimizer, replay or games in progress): what
    `rlmeta eval/arena/play` read. Returns its size in bytes."""
    from rlmeta.core.checkpoint import save_checkpoint

    cfg = agent.cfg.replace(device="cpu", run_dir=None, resume=None)
    net = {k: v.detach().cpu().clone() for k, v in agent.net.state_dict().items()}
    save_checkpoint(
        path,
        {
            "algo": "alphazero",
            "config": cfg.to_dict(),
            "global_step": agent.global_step,
            "agent": {"net": net, "global_step": agent.global_step},
        },
    )
    return path.stat().st_size


@torch.no_grad()
def cpu_agreement(agent, path: Path, sets: dict, per_set: int = 100) -> tuple[float, int]:
    """The checkpoint loaded on the CPU as `rlmeta eval` loads it: share of positions (the first
    `per_set` of each set) where its raw-policy move equals the trained network's on the device
    -> (share, positions)."""
    from rlmeta.agents.alphazero.loading import parse_player
    from rlmeta.envs.board import make

    moves = [m for data in sets.values() for m in data.moves[:per_set]]
    cpu_game = make("connect4", 1, "cpu")
    a_cpu = parse_player(str(path), "connect4", "cpu")(cpu_game, cpu_game.from_moves(moves))
    game = make("connect4", 1, agent.device)
    a_dev = agent.player(0)(game, game.from_moves(moves)).cpu()
    return float((a_cpu == a_dev).float().mean()), len(moves)


# ---------------------------------------------------------------------- the CPU run to compare with
def cpu_reference() -> dict:
    """From benchmarks/results/alphazero_connect4.md: the raw-policy curve (self-play moves, training
    minutes, mistake rate per set) and the moves/s and simulations per move of that run."""
    if not CPU_REPORT.exists():
        return {}
    text = CPU_REPORT.read_text()
    head = text.split("Raw-policy mistake rate (%) during training:")
    curve = []
    if len(head) > 1:
        for line in head[1].splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 2 + len(ORDER) and cells[0].isdigit():
                curve.append(
                    {
                        "step": int(cells[0]),
                        "train_s": 60 * float(cells[1]),
                        **{f"raw:{n}": float(x) for n, x in zip(ORDER, cells[2:])},
                    }
                )
    sims = re.search(r"search with (\d+) simulations", text)
    cores = re.search(r"Machine: ([^;\n]*)", text)
    out = {"curve": curve, "sims": int(sims.group(1)) if sims else None, "machine": cores.group(1) if cores else ""}
    if curve:
        out["moves_per_s"] = curve[-1]["step"] / curve[-1]["train_s"]
    return out


# ---------------------------------------------------------------------- files
def plot(path: Path, evals: list[dict], names: list[str], cpu: dict, label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, x_key, xlabel in (
        (axes[0], "train_s", "training wall-clock seconds (evaluations left out)"),
        (axes[1], "global_step", "self-play moves"),
    ):
        for i, n in enumerate(names):
            c = f"C{i}"
            x = [e[x_key] for e in evals]
            ax.plot(x, [e[f"raw:{n}"] for e in evals], "o-", color=c, ms=3, label=f"{n}: raw policy")
            ax.plot(x, [e[f"search:{n}"] for e in evals], "s--", color=c, ms=3, label=f"{n}: + search")
            if cpu.get("curve") and f"raw:{n}" in cpu["curve"][0]:
                cx = [p["train_s" if x_key == "train_s" else "step"] for p in cpu["curve"]]
                ax.plot(cx, [p[f"raw:{n}"] for p in cpu["curve"]], ":", color=c, alpha=0.6)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mistake rate (%)")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{label}; dotted: CPU run, raw policy (alphazero_connect4.md)", fontsize=9)
    axes[1].set_title("Pons test sets: solid raw policy, dashed with search", fontsize=9)
    axes[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(args, cfg, rows, evals, names, sets, cpu, tp, ckpt_bytes, agree, amp, total_s, argv) -> str:
    import json

    last = evals[-1]
    base = json.loads(BASELINES.read_text()) if BASELINES.exists() else {}
    mm = base.get("minimax:5", {})
    dev = torch.device(args.device)
    dev_label = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    cmd = "python benchmarks/gpu_alphazero.py " + shlex.join(argv)
    lines = [
        "# AlphaZero on Connect Four on one GPU: `--preset connect4-gpu`",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}, device {dev_label}, seed {args.seed}, {total_s:.0f} s in all.",
        "",
    ]
    if dev.type != "cuda":
        lines += [
            "**CPU run**: a correctness run of this script in a tiny configuration, not a measurement of "
            "GPU speed or learning.",
            "",
        ]
    lines += [
        f"Preset: {cfg.num_envs} self-play games at once, {cfg.search} search with {cfg.num_simulations} "
        f"simulations per move (max_considered {cfg.max_considered}), ResNet {cfg.channels} channels x "
        f"{cfg.blocks} blocks, batch {cfg.batch_size}, {cfg.updates_per_iteration} updates per "
        f"{cfg.moves_per_iteration} moves, replay {cfg.replay_size:,} positions (training starts at "
        f"{cfg.min_replay:,}), lr {cfg.lr}, random opening plies U{{0..{cfg.random_opening_moves}}}; network "
        f"{'in bfloat16 autocast' if amp else 'in float32'} for self-play and training. Evaluation every "
        f"{args.eval_every_s:.0f} s of training: raw policy and {args.eval_search} search with {args.eval_sims} "
        f"simulations (no root noise), in float32 (TF32 matmuls on CUDA).",
        "",
        f"Trained {rows[-1]['train_s']:.0f} s: {rows[-1]['global_step']:,} self-play moves, "
        f"{int(rows[-1]['games']):,} games, {len(rows)} iterations.",
        "",
        "Mistake rate (%) at the end (a move is a mistake when its game-theoretic outcome is strictly worse "
        "than the best move's). Positions per set: " + ", ".join(f"{n} {len(sets[n].moves)}" for n in names) + ".",
        "",
        "| player | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        f"| raw policy (step {last['global_step']:,}) | " + " | ".join(f"{last[f'raw:{n}']:.1f}" for n in names) + " |",
        f"| + {args.eval_sims}-simulation {args.eval_search} search | "
        + " | ".join(f"{last[f'search:{n}']:.1f}" for n in names)
        + " |",
    ]
    if mm:
        lines.append(
            "| minimax depth 5 (measured on the CPU, all labelled positions) | "
            + " | ".join(f"{mm[n]:.1f}" for n in names)
            + " |"
        )
    lines.append(
        "| AlphaZero.jl, 600-simulation search (published) | "
        + " | ".join(f"{ALPHAZERO_JL[ORDER.index(n)]:g}" for n in names)
        + " |"
    )
    search_ok = [n for n in names if last[f"search:{n}"] <= ALPHAZERO_JL[ORDER.index(n)]]
    raw_ok = [n for n in names if mm and last[f"raw:{n}"] < mm[n]]
    lines += [
        "",
        f"Targets: search no worse than AlphaZero.jl on {len(search_ok)} of {len(names)} sets"
        + (f" ({', '.join(search_ok)})" if search_ok else "")
        + (f" with {args.eval_sims} simulations" if args.eval_sims != 600 else "")
        + f"; raw policy below the depth-5 minimax on {len(raw_ok)} of {len(names)} sets"
        + (f" ({', '.join(raw_ok)})" if raw_ok else "")
        + ".",
        "",
    ]
    lines += [
        "Self-play throughput (self-play time only, learner steps left out), next to the CPU run:",
        "",
        "| run | self-play moves/s | games/s | simulations/s |",
        "|---|---:|---:|---:|",
        f"| this run ({dev_label}) | {tp['moves_per_s']:,.0f} | {tp['games_per_s']:,.1f} | {tp['sims_per_s']:,.0f} |",
    ]
    if cpu.get("moves_per_s"):
        lines.append(
            f"| CPU run, preset connect4, one core (alphazero_connect4.md; moves/s over its training "
            f"wall time, learner and evaluations included) | {cpu['moves_per_s']:,.0f} | not recorded | "
            f"{cpu['moves_per_s'] * (cpu['sims'] or 0):,.0f} |"
        )
    lines += [
        "",
        "Raw policy and search during training (mistake rate %, raw / search):",
        "",
        "| training s | self-play moves | " + " | ".join(names) + " | eval s |",
        "|---:|---:|" + "---|" * len(names) + "---:|",
    ]
    for e in evals:
        lines.append(
            f"| {e['train_s']:.0f} | {e['global_step']:,} | "
            + " | ".join(f"{e[f'raw:{n}']:.1f} / {e[f'search:{n}']:.1f}" for n in names)
            + f" | {e['eval_s']:.1f} |"
        )
    lines += [
        "",
        f"Checkpoint: `checkpoint.pt` ({ckpt_bytes / 1e6:.1f} MB: config and network weights). Loaded "
        f"on the CPU as `rlmeta eval connect4 --checkpoint checkpoint.pt` loads it, it plays the same raw-policy "
        f"move as the trained network on the device in {100 * agree[0]:.1f}% of the {agree[1]:,} positions. "
        "On a CPU (one core searches a few hundred positions per second with this network, so --limit "
        "the sets for a search): `rlmeta eval connect4 --checkpoint OUT/checkpoint.pt --simulations 600 "
        "--search puct --limit 100`, `rlmeta arena connect4 OUT/checkpoint.pt minimax:5 --games 20`, "
        "`rlmeta play connect4 --checkpoint OUT/checkpoint.pt`.",
        "",
        "Not done here: CUDA graphs or compilation of the search's steps (every search level reads one flag "
        "back to the host to stop the descent).",
        "",
        "Files: gpu_alphazero_train.csv (one row per iteration), gpu_alphazero_eval.csv (one row per "
        "evaluation), checkpoint.pt.",
        "",
        "![curves](gpu_alphazero.png)",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out", type=Path, default=RESULTS / "gpu_alphazero", help="folder for the report, CSVs, checkpoint"
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--budget-s", type=float, default=420.0, help="training wall-clock seconds (evaluations left out)")
    p.add_argument(
        "--deadline-s",
        type=float,
        default=560.0,
        help="stop training when this many seconds have passed in all, evaluations included, less the "
        "time the last evaluation took (the final one must fit)",
    )
    p.add_argument("--max-iters", type=int, default=0, help="stop after this many iterations (0: budget only)")
    p.add_argument("--eval-every-s", type=float, default=70.0, help="evaluate every this many seconds of training")
    p.add_argument("--eval-sims", type=int, default=600, help="simulations per move of the evaluation search")
    p.add_argument("--eval-search", choices=["puct", "gumbel"], default="puct", help="search of the evaluation")
    p.add_argument("--eval-batch", type=int, default=8192, help="positions searched at once in evaluations")
    p.add_argument("--limit", type=int, default=None, help="positions per Pons set (default: every labelled one)")
    p.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        help="float32 network (default on CUDA: bfloat16 autocast for self-play and training)",
    )
    p.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("preset overrides (default: the connect4-gpu preset's value)")
    g.add_argument("--search", choices=["puct", "gumbel"], default=None, help="self-play search (preset: gumbel)")
    for name, typ in (
        ("num_envs", int),
        ("num_simulations", int),
        ("channels", int),
        ("blocks", int),
        ("batch_size", int),
        ("updates_per_iteration", int),
        ("moves_per_iteration", int),
        ("replay_size", int),
        ("min_replay", int),
        ("lr", float),
    ):
        g.add_argument("--" + name.replace("_", "-"), type=typ, default=None)
    p.add_argument("--print-every", type=int, default=10, help="a progress line every N iterations")
    args = p.parse_args(argv)

    from rlmeta.app.runner import build_agent
    from rlmeta.benchmarks.alphazero_connect4 import labelled_sets

    start = time.perf_counter()
    deadline = start + args.deadline_s
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    amp = args.amp and device.type == "cuda"
    sets = labelled_sets(args.limit)
    names = [n for n in ORDER if n in sets]
    sets = {n: sets[n] for n in names}
    positions = Positions(sets, device)
    print("positions per set:", {n: len(sets[n].moves) for n in names}, flush=True)

    # ---- training: iterations (self-play moves in every game + learner steps), evaluated every
    # eval_every_s seconds of training; self-play time is accumulated apart for the throughput
    t_build = time.perf_counter()
    cfg = make_config(args)
    agent = build_agent("alphazero", cfg)
    selfplay_s = [0.0]
    step_fn = agent.selfplay.step

    def timed_step(model):  # SelfPlay.step, timed to the last kernel
        sync(device)
        t = time.perf_counter()
        out = step_fn(model)
        sync(device)
        selfplay_s[0] += time.perf_counter() - t
        return out

    agent.selfplay.step = timed_step
    train_s = time.perf_counter() - t_build  # building the agent counts as training time
    rows: list[dict] = []
    evals: list[dict] = []
    last_eval_cost = 0.0
    next_eval = args.eval_every_s

    def run_eval() -> None:
        nonlocal last_eval_cost
        t = time.perf_counter()
        ev = evaluate(agent, positions, args)
        sync(device)
        last_eval_cost = time.perf_counter() - t
        evals.append(
            {
                "train_s": train_s,
                "global_step": agent.global_step,
                "games": agent.selfplay.games_finished,
                "eval_s": last_eval_cost,
                **ev,
            }
        )
        print(
            f"eval at {train_s:6.1f} s, step {agent.global_step:,}: "
            + " ".join(f"{n} {ev[f'raw:{n}']:.1f}/{ev[f'search:{n}']:.1f}" for n in names)
            + f" ({last_eval_cost:.1f} s)",
            flush=True,
        )

    while train_s < args.budget_s and (args.max_iters == 0 or len(rows) < args.max_iters):
        if time.perf_counter() + 1.2 * last_eval_cost + 15 > deadline:
            print("deadline: training stopped", flush=True)
            break
        t = time.perf_counter()
        s0 = agent.global_step
        m = agent.iteration()  # (in the preset's autocast) ends in host reads of the losses: the time is real
        sync(device)
        dt = time.perf_counter() - t
        train_s += dt
        m.update(
            {
                "train_s": train_s,
                "global_step": agent.global_step,
                "games": agent.selfplay.games_finished,
                "moves_per_s": (agent.global_step - s0) / dt,
                "selfplay_s": selfplay_s[0],
            }
        )
        rows.append(m)
        if len(rows) % args.print_every == 0:
            print(
                f"{train_s:6.1f} s step {agent.global_step:>11,} games {agent.selfplay.games_finished:>9,} "
                f"moves/s {m['moves_per_s']:>9,.0f} policy loss {m.get('losses/policy_loss', float('nan')):.3f} "
                f"value loss {m.get('losses/value_loss', float('nan')):.3f}",
                flush=True,
            )
        if train_s >= next_eval:
            run_eval()
            next_eval = (train_s // args.eval_every_s + 1) * args.eval_every_s if args.eval_every_s > 0 else 0.0
    if not evals or evals[-1]["global_step"] != agent.global_step:
        run_eval()

    sims_per_move = cfg.num_simulations
    tp = {
        "moves_per_s": agent.global_step / max(selfplay_s[0], 1e-9),
        "games_per_s": agent.selfplay.games_finished / max(selfplay_s[0], 1e-9),
    }
    tp["sims_per_s"] = tp["moves_per_s"] * sims_per_move
    ckpt = args.out / "checkpoint.pt"
    ckpt_bytes = save_small_checkpoint(agent, ckpt)
    agree = cpu_agreement(agent, ckpt, sets)
    write_csv(args.out / "gpu_alphazero_train.csv", rows, TRAIN_COLUMNS)
    eval_cols = (
        "train_s",
        "global_step",
        "games",
        "eval_s",
        *[f"raw:{n}" for n in names],
        *[f"search:{n}" for n in names],
    )
    write_csv(args.out / "gpu_alphazero_eval.csv", evals, eval_cols)
    cpu = cpu_reference()
    dev_label = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    plot(args.out / "gpu_alphazero.png", evals, names, cpu, f"{dev_label}, preset connect4-gpu")
    md = report(args, cfg, rows, evals, names, sets, cpu, tp, ckpt_bytes, agree, amp, time.perf_counter() - start, argv)
    (args.out / "gpu_alphazero.md").write_text(md)
    print(md)
    print(f"total {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
