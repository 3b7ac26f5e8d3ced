"""MAML meta-RL on HalfCheetah velocity / direction: return after 0-3 policy-gradient adaptation steps
for MAML vs a multi-task pretrained policy vs random initialisation (the MAML paper's figure 5
comparison), at a budget this 2-core machine allows.

- MAML: `rlmeta meta-train FAMILY` with the given outer update (default trpo, MAML's), one inner step;
- pretrained: the same trainer with --inner-steps 0, i.e. multi-task TRPO on the same task
  distribution, given the same number of environment steps as MAML (2x the meta-iterations, since
  MAML samples pre- and post-update data);
- random: the untrained policy (the very initialisation MAML started from).

Evaluation (all three on the same held-out tasks and seeds): sample --eval-rollouts rollouts per task
with the policy, take one policy-gradient step on them (per-task linear baseline, normalised
advantages, as in training), sample again, ... up to 3 steps. MAML adapts with its training step
size; for the two baselines every step size in --baseline-lrs is tried and the best (mean return over
steps 1-3) is reported, as the MAML paper did (this picks on the test tasks: optimistic for them).
MAML minus the pretrained policy is also taken per held-out task (same tasks and seeds: a paired
comparison, its 95% interval over tasks), after 0-3 steps; the CPU target is that MAML after
one step lies above the pretrained policy after one step.

Run (one core, about 15 minutes with the defaults):
    nice -n 10 .venv/bin/python benchmarks/maml_cheetah.py --family cheetah-vel
    nice -n 10 .venv/bin/python benchmarks/maml_cheetah.py --family cheetah-dir
Writes benchmarks/results/maml_<family>.{md,png}; run directories under --out are reused/resumed.
On two free cores the two trainings can run side by side, then a plain call evaluates:
    ARGS="--family cheetah-dir --env-backend mujoco --outer promp --iterations 200"
    nice -n 10 .venv/bin/python benchmarks/maml_cheetah.py $ARGS --train-only maml &
    nice -n 10 .venv/bin/python benchmarks/maml_cheetah.py $ARGS --train-only pretrained; wait
    nice -n 10 .venv/bin/python benchmarks/maml_cheetah.py $ARGS
`--env-backend mujoco | warp` samples through the task-batched torch env (envs/meta/batched.py; warp:
mujoco-warp worlds on --device, e.g. `--env-backend warp --device cuda` on a GPU) and writes
maml_<family>-<backend>.{md,png} instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.agents.maml.rl import MetaRLConfig, MetaRLTrainer
from rlmeta.app.meta_run import CHECKPOINT, run_meta_training
from rlmeta.app.meta_train import make_trainer
from rlmeta.benchmarks.report import machine_line
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.seeding import seed_everything

RESULTS = Path(__file__).parent / "results"


def check_same_settings(cfg, run_dir: Path) -> None:
    """Refuse to resume/reuse a run directory trained with other settings (a longer --iterations is fine)."""
    path = run_dir / "config.json"
    if not path.exists():
        return
    saved = json.loads(path.read_text())
    current = json.loads(json.dumps(cfg.to_dict()))  # tuples -> lists, as saved
    diff = [k for k, v in current.items() if k not in ("meta_iterations", "resume", "run_dir") and saved.get(k) != v]
    if diff:
        raise SystemExit(f"{run_dir} holds a run with other settings ({', '.join(diff)}); pass another --out")


def train(cfg: MetaRLConfig) -> float:
    """Run (or resume, or reuse) the run in cfg.run_dir. -> training wall seconds (the logger's time/elapsed,
    resumed segments summed, final evaluation included)."""
    run_dir = Path(cfg.run_dir)
    check_same_settings(cfg, run_dir)
    if not (run_dir / "done").exists():
        resume = str(run_dir) if (run_dir / CHECKPOINT).exists() else None
        run_meta_training("maml", cfg.replace(resume=resume), make_trainer)
    return float(list(csv.DictReader((run_dir / "progress.csv").open()))[-1]["time/elapsed"])


def load(cfg: MetaRLConfig, trained: bool) -> MetaRLTrainer:
    seed_everything(cfg.seed)  # the same initial weights as the training run
    trainer = MetaRLTrainer(cfg)
    if trained:
        trainer.load_state_dict(load_checkpoint(Path(cfg.run_dir) / CHECKPOINT)["trainer"])
    return trainer


def ci95(x: np.ndarray) -> float:
    return float(1.96 * x.std(ddof=1) / math.sqrt(len(x)))


def curve(run_dir: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in csv.DictReader((run_dir / "progress.csv").open()) if r.get(key)]
    return np.array([float(r["global_step"]) for r in rows]), np.array([float(r[key]) for r in rows])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", default="cheetah-vel", choices=["cheetah-vel", "cheetah-dir", "ant-dir", "point"])
    p.add_argument("--iterations", type=int, default=120, help="MAML meta-iterations (pretraining gets 2x)")
    p.add_argument("--meta-batch", type=int, default=20)
    p.add_argument("--rollouts", type=int, default=10, help="rollouts per task and step, in training and evaluation")
    p.add_argument("--horizon", type=int, default=100)
    p.add_argument("--outer", default="trpo", choices=["trpo", "promp"])
    p.add_argument("--eval-tasks", type=int, default=40)
    p.add_argument("--baseline-lrs", type=float, nargs="+", default=[0.02, 0.1, 0.5])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--env-backend",
        default="numpy",
        choices=["numpy", "mujoco", "warp"],
        help="meta env: numpy families, or the task-batched torch env on that physics backend",
    )
    p.add_argument("--device", default="cpu", help="torch device of the learner (and of the warp worlds)")
    p.add_argument("--out", type=Path, default=Path("runs/bench-maml-cheetah"))
    p.add_argument("--results", type=Path, default=RESULTS, help="folder of the markdown table and figure")
    p.add_argument("--note", default="", help="a sentence added to the report's 'Measured' line (how it was run)")
    p.add_argument(
        "--train-only",
        choices=["maml", "pretrained"],
        help="train (or resume) only this run and exit: the two trainings can then run as two processes "
        "on two cores, and a later plain call reuses both and evaluates",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    fam = args.family
    tag = "" if args.env_backend == "numpy" else f"-{args.env_backend}"  # results and runs of each backend apart
    base = MetaRLConfig(
        env=fam,
        meta_iterations=args.iterations,
        meta_batch=args.meta_batch,
        rollouts_per_task=args.rollouts,
        horizon=args.horizon,
        outer=args.outer,
        seed=args.seed,
        eval_tasks=args.eval_tasks,
        eval_rollouts=args.rollouts,
        eval_steps=3,
        env_threads=1,
        env_backend=args.env_backend,
        device=args.device,
        checkpoint_every=10,
        progress=False,
    )
    maml_cfg = base.replace(run_dir=str(args.out / f"maml-{args.outer}-{fam}{tag}-s{args.seed}"))
    pre_cfg = base.replace(
        inner_steps=0,
        meta_iterations=2 * args.iterations,
        run_dir=str(args.out / f"pretrain-{args.outer}-{fam}{tag}-s{args.seed}"),
    )
    if args.train_only:
        train(maml_cfg if args.train_only == "maml" else pre_cfg)
        return
    wall = {"MAML": train(maml_cfg), "pretrained": train(pre_cfg)}

    rows = []  # (method, lr, returns [4, T])
    t0 = time.perf_counter()
    maml = load(maml_cfg, True)
    rows.append(("MAML", maml_cfg.inner_lr, maml.evaluate()["returns"]))
    maml.close()
    for name, cfg, trained in (("pretrained", pre_cfg, True), ("random init", maml_cfg, False)):
        tr = load(cfg.replace(inner_steps=1), trained)
        for lr in args.baseline_lrs:
            rows.append((name, lr, tr.evaluate(inner_lr=lr)["returns"]))
            print(f"{name} lr={lr}: {rows[-1][2].mean(1).round(2)}", flush=True)
        tr.close()
    eval_wall = time.perf_counter() - t0
    best = {}
    for name, lr, ret in rows:
        score = ret[1:].mean()
        if name not in best or score > best[name][2][1:].mean():
            best[name] = (name, lr, ret)

    steps_per_it = args.meta_batch * args.rollouts * args.horizon
    budget = 2 * args.iterations * steps_per_it
    cmd = (
        f"nice -n 10 .venv/bin/python benchmarks/maml_cheetah.py --family {fam}"
        + "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in (
                ("iterations", args.iterations),
                ("meta_batch", args.meta_batch),
                ("rollouts", args.rollouts),
                ("horizon", args.horizon),
                ("outer", args.outer),
            )
        )
        + (f" --env-backend {args.env_backend} --device {args.device}" if tag else "")
    )
    fmt = lambda r: " | ".join(f"{r[k].mean():.1f} +- {ci95(r[k]):.1f}" for k in range(r.shape[0]))  # noqa: E731
    # gains paired over tasks: task difficulty (the goal) dominates the spread of the returns themselves
    gain = lambda r: " | ".join(f"{(r[k] - r[0]).mean():+.1f} +- {ci95(r[k] - r[0]):.1f}" for k in (1, 3))  # noqa: E731
    lines = [
        f"# MAML meta-RL on {fam}: return after 0-3 adaptation steps",
        "",
        f"Command: `{cmd}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}; torch on 1 thread, physics on 1 thread, niced (other jobs shared "
        f"the 2 cores); env backend {args.env_backend}, device {args.device}." + (f" {args.note}" if args.note else ""),
        "",
        f"Training budget: MAML ({args.outer} outer, 1 inner PG step, lr {base.inner_lr}) {args.iterations} "
        f"meta-iterations x {args.meta_batch} tasks x {args.rollouts} rollouts x horizon {args.horizon} x 2 (pre- "
        f"and post-update) = {budget:,} env steps; pretrained (multi-task {args.outer}, no adaptation): "
        f"{2 * args.iterations} iterations, the same {budget:,} env steps. ProMP's MAML run script (1001 "
        "meta-iterations x 40 tasks x 20 rollouts x horizon 100) uses about "
        f"{1001 * 40 * 20 * 100 * 2 / budget:.0f}x this budget: these numbers are an early point of training.",
        "",
        f"Evaluation: {args.eval_tasks} held-out tasks (seed {base.eval_seed}), {args.rollouts} rollouts per task and "
        "step; mean return per rollout +- 95% CI over tasks. Baselines: best step size of "
        f"{args.baseline_lrs} on these tasks.",
        "",
        "| method | step size | 0 steps | 1 step | 2 steps | 3 steps | gain 0->1 step (paired) | gain 0->3 steps (paired) | training wall time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("MAML", "pretrained", "random init"):
        _, lr, ret = best[name]
        w_s = f"{wall[name] / 60:.1f} min" if name in wall else "-"
        lines.append(f"| {name} | {lr} | {fmt(ret)} | {gain(ret)} | {w_s} |")
    # the CPU target: MAML after one step above the pretrained policy after one step, the
    # difference taken per held-out task (same tasks, env and noise seeds for both), its 95% CI over tasks
    maml_ret, pre_ret = best["MAML"][2], best["pretrained"][2]
    diff = maml_ret - pre_ret  # [4, T]
    d1, c1 = diff[1].mean(), ci95(diff[1])
    verdict = "above" if d1 - c1 > 0 else "below" if d1 + c1 < 0 else "not separated from"
    lines += [
        "",
        f"MAML minus pretrained (step {best['pretrained'][1]}), paired over the {diff.shape[1]} held-out "
        "tasks, mean +- 95% CI:",
        "",
        "| | 0 steps | 1 step | 2 steps | 3 steps |",
        "|---|---:|---:|---:|---:|",
        "| MAML - pretrained | " + " | ".join(f"{diff[k].mean():+.1f} +- {ci95(diff[k]):.1f}" for k in range(4)) + " |",
        "",
        f"MAML 1 step - pretrained 1 step (paired over held-out tasks): {d1:+.1f} +- {c1:.1f}: MAML after one "
        f"step is **{verdict}** the pretrained policy after one step.",
    ]
    lines += [
        "",
        "All step sizes tried for the baselines:",
        "",
        "| method | step size | 0 steps | 1 step | 2 steps | 3 steps | gain 0->1 | gain 0->3 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {n} | {lr} | {fmt(r)} | {gain(r)} |" for n, lr, r in rows if n != "MAML"]
    lines += [
        "",
        f"Evaluation wall time: {eval_wall / 60:.1f} min. Run directories: `{maml_cfg.run_dir}`, `{pre_cfg.run_dir}`.",
        "",
        f"![{fam}](maml_{fam}{tag}.png)",
        "",
    ]
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"maml_{fam}{tag}.md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("MAML", "pretrained", "random init"):
        _, lr, ret = best[name]
        ax1.errorbar(
            np.arange(4), ret.mean(1), yerr=[ci95(r) for r in ret], marker="o", capsize=3, label=f"{name} (step {lr})"
        )
    ax1.set_xticks(range(4))
    ax1.set_xlabel("policy-gradient adaptation steps")
    ax1.set_ylabel("mean return per rollout (held-out tasks)")
    ax1.set_title(f"{fam}: adaptation")
    ax1.legend()
    for key, label, d in (
        ("charts/pre_update_return", "MAML pre-update", maml_cfg.run_dir),
        ("charts/post_update_return", "MAML post-update", maml_cfg.run_dir),
        ("charts/pre_update_return", "multi-task pretraining", pre_cfg.run_dir),
    ):
        x, y = curve(Path(d), key)
        ax2.plot(x, y, label=label, alpha=0.8)
    ax2.set_xlabel("env steps")
    ax2.set_ylabel("mean training return per rollout")
    ax2.set_title("training")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(args.results / f"maml_{fam}{tag}.png", dpi=120)
    print((args.results / f"maml_{fam}{tag}.md").read_text())


if __name__ == "__main__":
    main()
