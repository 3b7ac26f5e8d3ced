"""MCTS throughput on Connect Four, measured side by side in one process on one CPU core:

- OpenSpiel's C++ MCTSBot (UCT c=2, one uniform random rollout per leaf, solve=False);
- OpenSpiel's Python MCTSBot with the same settings (a sequential Python MCTS: one node object
  per expansion, game logic in C++);
- rlmeta's batched search (agents/alphazero/search.py) with the same UCT + random-rollout leaf
  evaluation, over batches of B positions (one torch op sequence for all B trees);
- rlmeta's batched search as self-play uses it: Gumbel root, the connect4 preset's network
  (32 channels x 2 residual blocks), no rollouts.

Simulations per second = positions x simulations per move / wall time. Every searcher starts from
the same random positions (0-10 random plies from the empty board).

The headline ratio (batched UCT at its best batch size vs the C++ bot) comes from --rounds
interleaved rounds after the sweep over batch sizes: C++ bot, rlmeta, C++ bot again; each round's
ratio uses the mean of its two C++ timings, and the report gives the median with the range, so
that load from other jobs on a shared machine weighs on both sides alike.

    nice -n 10 .venv/bin/python benchmarks/alphazero_throughput.py

Writes benchmarks/results/alphazero_throughput.md and .png.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rlmeta.agents.alphazero.agent import AlphaZeroConfig, build_net  # noqa: E402
from rlmeta.agents.alphazero.network import model_fn  # noqa: E402
from rlmeta.agents.alphazero.search import SearchConfig, search, uniform_model  # noqa: E402
from rlmeta.benchmarks.report import machine_line  # noqa: E402
from rlmeta.envs.board import make  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def random_openings(n: int, seed: int) -> list[list[int]]:
    """n move lists of 0-10 uniformly random plies that do not end the game."""
    rng = np.random.default_rng(seed)
    game = make("connect4", 1)
    out = []
    while len(out) < n:
        s, moves = game.reset(), []
        for _ in range(int(rng.integers(0, 11))):
            legal = np.flatnonzero(game.legal_mask(s)[0].numpy())
            a = int(rng.choice(legal))
            s2 = game.step(s, torch.tensor([a]))
            if bool(s2.terminal[0]):
                break
            s, moves = s2, moves + [a]
        out.append(moves)
    return out


def openspiel_states(openings):
    import pyspiel

    game = pyspiel.load_game("connect_four")
    states = []
    for moves in openings:
        st = game.new_initial_state()
        for a in moves:
            st.apply_action(a)
        states.append(st)
    return game, states


def time_openspiel_cpp(openings, sims: int, seed: int) -> float:
    import pyspiel

    game, states = openspiel_states(openings)
    bot = pyspiel.MCTSBot(game, pyspiel.RandomRolloutEvaluator(1, seed), 2.0, sims, 1000, False, seed, False)
    t = time.perf_counter()
    for st in states:
        bot.step(st)
    return len(states) * sims / (time.perf_counter() - t)


def time_openspiel_python(openings, sims: int, seed: int) -> float:
    from open_spiel.python.algorithms import mcts

    game, states = openspiel_states(openings)
    rs = np.random.RandomState(seed)
    bot = mcts.MCTSBot(game, 2.0, sims, mcts.RandomRolloutEvaluator(1, rs), solve=False, random_state=rs)
    t = time.perf_counter()
    for st in states:
        bot.step(st)
    return len(states) * sims / (time.perf_counter() - t)


DEVICE = torch.device("cpu")  # where rlmeta's rows run (--device); OpenSpiel's always run on the CPU


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def ours_state(openings):
    game = make("connect4", len(openings), DEVICE)
    return game, game.from_moves(["".join(str(a + 1) for a in m) for m in openings])


def time_ours(openings, cfg: SearchConfig, model) -> float:
    game, s = ours_state(openings)
    search(game, game.index(s, torch.arange(min(2, len(openings)), device=DEVICE)), model, cfg)  # warm-up
    _sync()
    t = time.perf_counter()
    search(game, s, model, cfg)
    _sync()
    return len(openings) * cfg.num_simulations / (time.perf_counter() - t)


def time_network_share(openings, cfg: SearchConfig, model) -> float:
    """Share of a search's wall time spent in the network: (sims + 1) batched calls, timed alone."""
    game, s = ours_state(openings)
    obs, legal = game.observation(s), game.legal_mask(s)
    model(obs, legal)
    _sync()
    t = time.perf_counter()
    for _ in range(cfg.num_simulations + 1):
        model(obs, legal)
    _sync()
    net_time = time.perf_counter() - t
    return net_time / (len(openings) * cfg.num_simulations / time_ours(openings, cfg, model))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sims", type=int, default=400, help="simulations per move for the random-rollout searchers")
    p.add_argument("--positions", type=int, default=200, help="positions for the OpenSpiel C++ bot")
    p.add_argument("--python-positions", type=int, default=4, help="positions for the (slow) Python bot")
    p.add_argument("--batches", type=int, nargs="*", default=[1, 16, 64, 256, 1024, 4096, 8192])
    p.add_argument("--net-batches", type=int, nargs="*", default=[16, 64, 256, 1024, 4096])
    p.add_argument("--net-sims", type=int, default=32, help="simulations per move with the network")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds (C++ bot, rlmeta at the best batch, C++ bot) for the headline ratio",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="device of rlmeta's batched rows (cpu or cuda)")
    p.add_argument("--note", default="", help="free text for the report's machine line (e.g. other load)")
    p.add_argument("--out", default=str(RESULTS / "alphazero_throughput"))
    a = p.parse_args()
    global DEVICE
    DEVICE = torch.device(a.device)
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    openings = random_openings(max(a.batches + a.net_batches + [a.positions]), a.seed)

    rows = []
    cpp_first = time_openspiel_cpp(openings[: a.positions], a.sims, a.seed)
    rows.append(("OpenSpiel C++ MCTSBot (UCT, random rollout)", 1, a.sims, cpp_first))
    print(rows[-1], flush=True)
    py = time_openspiel_python(openings[: a.python_positions], a.sims, a.seed)
    rows.append(("OpenSpiel Python MCTSBot (UCT, random rollout)", 1, a.sims, py))
    print(rows[-1], flush=True)
    uct = SearchConfig(num_simulations=a.sims, algorithm="uct", c_uct=2.0, rollout_weight=1.0)
    ours_rollout = {}
    for b in a.batches:
        cfg = uct if b >= 16 else SearchConfig(**{**uct.__dict__, "num_simulations": min(a.sims, 100)})
        ours_rollout[b] = time_ours(openings[:b], cfg, uniform_model)
        rows.append(("rlmeta batched search (UCT, random rollout)", b, cfg.num_simulations, ours_rollout[b]))
        print(rows[-1], flush=True)
    # the headline ratio: interleaved rounds at the sweep's best batch size
    best_b = max(ours_rollout, key=ours_rollout.get)
    rounds = []  # (C++ before, rlmeta, C++ after)
    for i in range(a.rounds):
        c1 = time_openspiel_cpp(openings[: a.positions], a.sims, a.seed)
        o = time_ours(openings[:best_b], uct, uniform_model)
        c2 = time_openspiel_cpp(openings[: a.positions], a.sims, a.seed)
        rounds.append((c1, o, c2))
        print(
            f"round {i + 1}: C++ {c1:,.0f}, rlmeta (batch {best_b}) {o:,.0f}, C++ {c2:,.0f}: "
            f"{o / ((c1 + c2) / 2):.2f}x",
            flush=True,
        )
    ratios = sorted(o / ((c1 + c2) / 2) for c1, o, c2 in rounds)
    cpp = float(np.mean([c for c1, _, c2 in rounds for c in (c1, c2)])) if rounds else cpp_first
    pcfg = AlphaZeroConfig.presets()["connect4"]
    net = build_net(pcfg, make("connect4", 1)).to(DEVICE).eval()
    gcfg = SearchConfig(num_simulations=a.net_sims, algorithm="gumbel", max_considered=7)
    ours_net, net_share = {}, {}
    for b in a.net_batches:
        ours_net[b] = time_ours(openings[:b], gcfg, model_fn(net))
        net_share[b] = time_network_share(openings[:b], gcfg, model_fn(net))
        rows.append(
            (
                f"rlmeta batched search (Gumbel, {pcfg.channels}x{pcfg.blocks} ResNet, no rollout)",
                b,
                a.net_sims,
                ours_net[b],
            )
        )
        print(rows[-1], flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [
        "# MCTS throughput on Connect Four ("
        + ("one CPU core" if DEVICE.type == "cpu" else f"rlmeta on {torch.cuda.get_device_name(DEVICE)}")
        + ")",
        "",
        f"Command: `nice -n 10 .venv/bin/python {shlex.join(['benchmarks/alphazero_throughput.py', *sys.argv[1:]])}`",
        "",
        f"Machine: {machine_line()}{'; ' + a.note if a.note else ''}; rlmeta rows on "
        + ("the CPU" if DEVICE.type == "cpu" else torch.cuda.get_device_name(DEVICE))
        + "; torch with one intra-op thread; all rows measured in the same process, one after "
        "another. Positions: 0-10 random plies from the empty board. Simulations per second = positions x "
        "simulations per move / wall time of the search.",
        "",
        "| searcher | batch (positions searched at once) | simulations per move | simulations / s |",
        "|---|---|---|---|",
    ]
    for name, b, sims, sps in rows:
        lines.append(f"| {name} | {b} | {sims} | {sps:,.0f} |")
    best = max(ours_rollout.values())
    if rounds:
        lines += [
            "",
            f"**Random-rollout UCT, batched at its best batch size ({best_b}) vs OpenSpiel's C++ bot: "
            f"{float(np.median(ratios)):.2f}x** (median of {len(rounds)} interleaved rounds, range "
            f"{ratios[0]:.2f}-{ratios[-1]:.2f}x; per round C++ / rlmeta / C++ simulations/s: "
            + "; ".join(f"{c1:,.0f} / {o:,.0f} / {c2:,.0f}" for c1, o, c2 in rounds)
            + ").",
        ]
    lines += [
        "",
        f"In the sweep above (one timing each, C++ bot {cpp:,.0f}/s on average over the rounds): batch "
        f"{min(ours_rollout)} is {ours_rollout[min(ours_rollout)] / cpp:.3f}x the C++ bot (per-simulation torch op overhead: a few "
        f"hundred small ops, most of them in the rollout's plies); the best batch vs the sequential Python MCTS "
        f"{best / py:.1f}x. OpenSpiel's Python MCTS is {py / cpp:.3f}x the C++ bot.",
        "",
        "What makes the batched search fast on a CPU, where every op costs microseconds of dispatch "
        "whatever its size: random rollouts on Connect Four bitboards (two int64 words per game, a 128 x 420 "
        "move table, about 40 ops on [B] per ply instead of ops on [B, 7] and [B, 6, 7]); selection from "
        "edge statistics [B * N, A] (two contiguous rows per node instead of five gathers over its children); "
        "one index_add_ per statistic to back up a whole path; flat index_select / index_copy_ instead of "
        "two-tensor advanced indexing (bytes copied as wider words). The trees are the same bit for bit "
        "as the per-level reference (tests/test_mcts_fast.py).",
        "",
        "Share of the Gumbel + ResNet search's time spent in the network (the same number of batched "
        "network calls timed alone): "
        + ", ".join(f"{100 * v:.0f}% at batch {b}" for b, v in net_share.items())
        + ". The rest is tree bookkeeping (selection, expansion, backup), whose cost per simulation "
        "shrinks with the batch; the `connect4` preset self-plays 256 games at once.",
        "",
    ]
    if DEVICE.type == "cpu":
        lines.append(
            "Run with `--device cuda` on a GPU machine for batch size vs simulations/s there (not measured here)."
        )
    out = Path(a.out)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(list(ours_rollout), list(ours_rollout.values()), "o-", label="rlmeta batched, UCT + random rollout")
    ax.plot(list(ours_net), list(ours_net.values()), "s-", label="rlmeta batched, Gumbel + ResNet (self-play)")
    ax.axhline(cpp, color="k", ls="--", label="OpenSpiel C++ MCTSBot (sequential, mean of the rounds' timings)")
    ax.axhline(py, color="gray", ls=":", label="OpenSpiel Python MCTSBot (sequential)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("positions searched at once (batch)")
    ax.set_ylabel("simulations / s (" + ("one CPU core" if DEVICE.type == "cpu" else "rlmeta on the GPU") + ")")
    ax.set_title("Connect Four MCTS throughput")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    print(f"wrote {out.with_suffix('.md')} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
