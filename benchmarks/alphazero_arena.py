"""AlphaZero on a board game without an exact reference (Go 9x9, Othello, Gomoku), scored in the
arena: train a preset (the run resumes if it exists), then play the agent against built-in
players and report win/draw/loss per seat and Elo(agent) - Elo(opponent) with a 95% interval.

    nice -n 10 .venv/bin/python benchmarks/alphazero_arena.py --preset go9 --agents 0 64 \
        --opponents random mcts:32 --games 40

--agents are simulations per move of the agent's search (0 = the raw network policy, greedy);
opponents are arena player specs (random, mcts:N, ...). Seats alternate. Writes
benchmarks/results/alphazero_<preset>_arena.md and .png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rlmeta.agents.alphazero.agent import AlphaZeroConfig  # noqa: E402
from rlmeta.agents.alphazero.loading import parse_player  # noqa: E402
from rlmeta.agents.alphazero.players import arena, format_elo, format_elo_ci  # noqa: E402
from rlmeta.benchmarks.report import machine_line  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="go9", help="alphazero preset to train (its env is the game)")
    p.add_argument("--total-steps", type=int, default=None, help="self-play moves (default: the preset's)")
    p.add_argument("--agents", type=int, nargs="+", default=[0, 64], help="agent search sizes (0 = raw policy)")
    p.add_argument("--opponents", nargs="+", default=["random", "mcts:32"], help="arena player specs")
    p.add_argument("--games", type=int, default=40, help="games per match (half with the agent moving first)")
    p.add_argument("--run-dir", default=None, help="training run (default runs/bench-alphazero-<preset>)")
    p.add_argument("--seed", type=int, default=0, help="training and arena seed")
    p.add_argument("--out", default=None, help="report path without suffix (default results/alphazero_<preset>_arena)")
    p.add_argument("--note", default="", help="free text for the report's machine line (e.g. other load)")
    a = p.parse_args()
    torch.set_num_threads(1)
    from rlmeta.app.runner import train
    from rlmeta.core.checkpoint import load_checkpoint

    cfg = AlphaZeroConfig.presets()[a.preset]
    run_dir = Path(a.run_dir or f"runs/bench-alphazero-{a.preset}")
    out = Path(a.out or RESULTS / f"alphazero_{a.preset}_arena")
    total = a.total_steps or cfg.total_steps
    ckpt = run_dir / "checkpoint.pt"
    step = int(load_checkpoint(ckpt)["global_step"]) if ckpt.exists() else 0
    if step < total:
        train(
            "alphazero",
            cfg.replace(
                seed=a.seed,
                run_dir=str(run_dir),
                progress=False,
                device="cpu",
                total_steps=total,
                resume=str(run_dir) if ckpt.exists() else None,
            ),
        )
        step = int(load_checkpoint(ckpt)["global_step"])
    elapsed = _train_minutes(run_dir)

    rows = []
    for sims in a.agents:
        agent = parse_player(f"az:{ckpt}:{sims}", cfg.env)
        for spec in a.opponents:
            torch.manual_seed(a.seed)
            t = time.perf_counter()
            res = arena(cfg.env, agent, parse_player(spec, cfg.env), a.games)
            rows.append(
                {
                    "agent": sims,
                    "opponent": spec,
                    "per_seat": res.per_seat,
                    "wins": res.wins,
                    "draws": res.draws,
                    "losses": res.losses,
                    "score": res.score,
                    "elo": res.elo,
                    "elo_ci": res.elo_ci,
                    "score_ci": res.score_ci,
                    "seconds": time.perf_counter() - t,
                }
            )
            print(res.table(), f"({rows[-1]['seconds']:.0f} s)", flush=True)
    write_report(a, cfg, step, elapsed, rows, out)
    return 0


def _train_minutes(run_dir: Path) -> float:
    """Wall minutes of training from the run's progress.csv (time/elapsed of the last row)."""
    import csv

    f = run_dir / "progress.csv"
    if not f.exists():
        return float("nan")
    last = list(csv.DictReader(f.open()))[-1]
    return float(last.get("time/elapsed", "nan")) / 60


def write_report(a, cfg, step, elapsed, rows, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = lambda s: "raw policy" if s == 0 else f"{s}-sim {cfg.search} search"  # noqa: E731
    lines = [
        f"# AlphaZero on {cfg.env}: arena results",
        "",
        f"Command: `nice -n 10 .venv/bin/python benchmarks/alphazero_arena.py --preset {a.preset}"
        + (f" --total-steps {a.total_steps}" if a.total_steps else "")
        + f" --agents {' '.join(map(str, a.agents))} --opponents {' '.join(a.opponents)} --games {a.games}`",
        "",
        f"Machine: {machine_line()}{'; ' + a.note if a.note else ''}; training and games on one core.",
        f"Training: preset `{a.preset}` ({cfg.num_envs} parallel games, {cfg.search} search with "
        f"{cfg.num_simulations} simulations, ResNet {cfg.channels} channels x {cfg.blocks} blocks), "
        f"{step} self-play moves in {elapsed:.1f} min of training (progress.csv time/elapsed).",
        "",
        "Score = (W + D/2) / games for the agent; Elo difference with a 95% interval (normal approximation "
        "of the mean score; when one side won every game, the exact binomial bound p^n = 0.025 on the other "
        "side and none on this one). Seats alternate: W/D/L as first and second player.",
        "",
        "| agent | opponent | games | W / D / L (agent first) | W / D / L (agent second) | score | Elo(agent) - Elo(opp) [95% CI] | time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        f_, s_ = (r["per_seat"].get(k, (0, 0, 0)) for k in ("first", "second"))
        lo, hi = r["elo_ci"]
        lines.append(
            f"| {name(r['agent'])} | {r['opponent']} | {r['wins'] + r['draws'] + r['losses']} | "
            f"{' / '.join(map(str, f_))} | {' / '.join(map(str, s_))} | {r['score']:.3f} | "
            f"{format_elo(r['elo'])} {format_elo_ci(lo, hi)} | {r['seconds']:.0f} |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    (out.parent / (out.name + ".json")).write_text(json.dumps(rows, indent=1, default=str))

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"{name(r['agent'])}\nvs {r['opponent']}" for r in rows]
    scores = [r["score"] for r in rows]
    err = [[s - r["score_ci"][0] for s, r in zip(scores, rows)], [r["score_ci"][1] - s for s, r in zip(scores, rows)]]
    ax.bar(range(len(rows)), scores, yerr=err, capsize=4, color="tab:blue")  # the arena's 95% score interval
    ax.axhline(0.5, color="grey", ls="--", lw=1)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("agent score (W + D/2) / games")
    ax.set_title(f"AlphaZero {cfg.env}, {step} self-play moves")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    print(f"wrote {out.with_suffix('.md')} and .png")


if __name__ == "__main__":
    sys.exit(main())
