"""MAML meta-RL on one GPU (the MAML GPU check): cheetah-dir and cheetah-vel on mujoco-warp worlds,
a meta-batch of tasks x rollouts per task as one vector env, MAML against the multi-task pretrained
policy given the same env steps, both evaluated after 0-3 adaptation steps on the same held-out tasks.

One command on a GPU machine with the `gpu` extra (mujoco-warp, warp-lang) installed, within 10 minutes
on an H100 including set-up, writing gpu_maml.md, gpu_maml.png and CSVs into --out:
    python benchmarks/gpu_maml.py --out benchmarks/results/gpu_maml
The test suite runs it in a tiny configuration on the CPU MuJoCo backend (tests/test_gpu_maml.py):
    python benchmarks/gpu_maml.py --env-backend mujoco --device cpu --meta-batch 2 --rollouts 2 --horizon 5 \
        --max-iters 2 --baseline-lrs 0.1 --out /tmp/gpu_maml

Per family, in this order (the clock of each training phase starts after its worlds are built, so
mujoco-warp's kernel compilation, about 50 s on the first HalfCheetah model, is reported apart):
1. MAML: `--budget-s` seconds of meta-training (agents/maml/rl.py's MetaRLTrainer, one inner step);
2. random init: the untrained policy (the initialisation MAML started from) evaluated as below;
3. pretrained: the same trainer with 0 inner steps (multi-task ProMP/TRPO, the MAML paper's
   "pretrained" baseline), from the same initial weights, trained until it has used as many env steps
   as MAML did (or `--pretrain-cap-s` seconds, whichever first; the report gives both counts);
4. evaluation (MetaRLTrainer.evaluate, the MAML paper's protocol): `--eval-tasks` held-out tasks (seed
   12345), `--rollouts` rollouts per task and step: sample, one policy-gradient step per task on
   those samples, sample again, ... to 3 steps. MAML adapts with its training step size; the
   baselines with each of --baseline-lrs and the best (mean of steps 1-3) is reported, as
   benchmarks/maml_cheetah.py does (chosen on the test tasks: optimistic for the baselines).
The comparison is paired: the same tasks, env seeds and noise seeds for every method, so
"MAML k steps - pretrained k steps" is taken per task and its 95% interval is over tasks
(1.96 standard errors; the task, i.e. the goal, dominates the spread of the returns themselves).
If the phases would overrun `--deadline-s`, the remaining training budgets shrink to fit.

Hyperparameters (RLlib's tuned halfcheetah-rand-direc-maml.yaml and ProMP's run scripts, the
references for the 268 after one step that the target beats):
- outer update promp (RLlib's MAML is this: 5 Adam steps of lr 1e-3 per meta-iteration on the
  PPO-clipped post-update objective, clip 0.3, inner KL penalty 5e-4 (ProMP's fixed coefficient; RLlib
  adapts it towards 0.01)); inner step: one policy-gradient step of size 0.1 with ProMP's LVC
  estimator; gamma 0.99, GAE lambda 1 on a per-task linear feature baseline; 64x64 tanh Gaussian
  policy with a learned state-independent std starting at 1;
- horizon 100 (RLlib's and ProMP's, not the MAML paper's 200: the published 268 is a 100-step return);
- scale: 40 tasks (ProMP 40, RLlib 31) x 50 rollouts per task (ProMP and RLlib 20) = 2000 worlds.
  On the GPU one meta-iteration is bound by the 2 x 100 sequential physics steps, not by the batch,
  so the larger batch is nearly free and lowers the variance of both the inner (adaptation) gradient
  and the meta-gradient; the learning rate stays ProMP's because a lower-variance gradient does not
  make Adam's steps larger.
- budget: the whole script must fit 10 minutes with set-up, so training gets about 7.5 of them:
  MAML 150 s on cheetah-dir (the absolute target) and 100 s on cheetah-vel (a target relative to
  pretraining), pretraining at most 100 s / 80 s (about MAML's env steps: a pretraining iteration
  samples 100 steps instead of 200 and skips the second-order update).
What to expect: RLlib needed about 1700 meta-iterations (211M env steps) for 268. On the 2-core CPU,
benchmarks/results/maml_cheetah-dir-mujoco.md (these settings at 20 tasks x 10 rollouts, 300
meta-iterations) shows cheetah-dir's adaptation appearing only after about 250 meta-iterations (the
post-update training return stays near the random policy's -17 until then, then climbs to 69 at
iteration 300). At an estimated 0.5-1 s per iteration on the GPU (not measured: no GPU was available
when this was written) the defaults give 150-300 iterations on cheetah-dir, so 300 after one step is a
stretch at ProMP's step sizes; the knobs for a second try are on the command line (--budget-s,
--promp-steps, --meta-lr, --rollouts, --outer trpo --max-kl).

ant-dir is reported as not run: the two cheetah families take the script's whole budget. The
task-batched torch env has Ant-v5 on both backends now (envs/meta/batched.py), so an ant-dir check is
`rlmeta meta-train ant-dir --env-backend warp` on its own.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlmeta.agents.maml.rl import MetaRLConfig, MetaRLTrainer
from rlmeta.benchmarks.report import machine_line, write_csv
from rlmeta.core.seeding import seed_everything

RESULTS = Path(__file__).parent / "results"
FAMILIES = ("cheetah-dir", "cheetah-vel")
RLLIB_DIR_1STEP = 268.0  # RLlib MAML, HalfCheetahRandDirec, return after one step (211M env steps)
DIR_TARGET = 300.0  # the GPU target: cheetah-dir after one step, within the GPU budget
METHODS = ("MAML", "pretrained", "random init")
TRAIN_COLUMNS = (
    "method",
    "iteration",
    "wall_s",
    "global_step",
    "charts/pre_update_return",
    "charts/post_update_return",
    "losses/outer_kl",
    "losses/inner_kl",
    "charts/iteration_time",
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ci95(x: np.ndarray) -> float:
    """1.96 standard errors of the mean of x (over tasks); 0 for a single task."""
    return float(1.96 * x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0


def make_config(family: str, args: argparse.Namespace, **over) -> MetaRLConfig:
    cfg = MetaRLConfig(
        env=family,
        outer=args.outer,
        meta_batch=args.meta_batch,
        rollouts_per_task=args.rollouts,
        horizon=args.horizon,
        hidden_sizes=tuple(args.hidden_sizes),
        meta_lr=args.meta_lr,
        max_kl=args.max_kl,
        promp_steps=args.promp_steps,
        inner_lr=args.inner_lr,
        seed=args.seed,
        env_backend=args.env_backend,
        device=args.device,
        env_threads=args.env_threads,
        eval_tasks=args.eval_tasks,
        eval_rollouts=args.rollouts,
        eval_steps=3,
        meta_iterations=10**9,
        progress=False,
    )
    return cfg.replace(**over)


def build(cfg: MetaRLConfig) -> tuple[MetaRLTrainer, float]:
    """A trainer with the seed's initial weights (the same for MAML, pretrained and random init)
    -> (trainer, seconds to build it: on warp the first one compiles the kernels)."""
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    trainer = MetaRLTrainer(cfg)
    sync(trainer.device)
    return trainer, time.perf_counter() - t0


def train(
    trainer: MetaRLTrainer, method: str, budget_s: float, max_iters: int = 0, max_steps: int | None = None
) -> list[dict]:
    """Meta-iterations until budget_s seconds, max_iters iterations (0: no limit) or max_steps env steps
    (None: no limit) -> one row per iteration. Each iteration ends in host syncs (metrics to floats),
    so the wall times are real."""
    rows: list[dict] = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        if (max_iters and len(rows) >= max_iters) or (max_steps is not None and trainer.global_step >= max_steps):
            break
        ti = time.perf_counter()
        m = trainer.iteration()
        m.update(
            {
                "method": method,
                "iteration": trainer.iteration_count,
                "wall_s": time.perf_counter() - t0,
                "global_step": trainer.global_step,
                "charts/iteration_time": time.perf_counter() - ti,
            }
        )
        rows.append(m)
        if len(rows) % 10 == 0 or len(rows) == 1:
            print(
                f"{trainer.cfg.env} {method:<10} {m['wall_s']:6.1f}s it {len(rows):4d} steps "
                f"{trainer.global_step:>12,} pre {m['charts/pre_update_return']:8.1f} "
                f"post {m['charts/post_update_return']:8.1f}",
                flush=True,
            )
    return rows


def evaluate(trainer: MetaRLTrainer, lrs: list[float | None]) -> list[tuple[float, np.ndarray]]:
    """[(inner lr, returns [4, T])] on the held-out tasks; lr None = the trainer's own step size."""
    out = []
    for lr in lrs:
        ret = trainer.evaluate(inner_lr=lr)["returns"]
        out.append((trainer.learner.inner_lr if lr is None else lr, ret))
    return out


def best(evals: list[tuple[float, np.ndarray]]) -> tuple[float, np.ndarray]:
    """The step size whose mean return over adaptation steps 1-3 is highest (the MAML paper's choice)."""
    return max(evals, key=lambda e: e[1][1:].mean())


class Planner:
    """Training budgets that fit the deadline: each phase gets its planned seconds, scaled down
    (all remaining phases alike) when what is left before the deadline, minus a reserve for each
    remaining evaluation, would not hold them."""

    def __init__(
        self, deadline: float, phases: list[float], eval_reserve_s: float, evals: int, clock=time.perf_counter
    ):
        self.deadline, self.phases, self.reserve, self.evals = deadline, list(phases), eval_reserve_s, evals
        self.clock = clock

    def next_budget(self) -> float:
        planned = self.phases.pop(0)
        left = self.deadline - self.clock() - self.reserve * self.evals
        scale = min(1.0, max(0.0, left) / max(planned + sum(self.phases), 1e-9))
        return planned * scale

    def evaluated(self) -> None:
        self.evals = max(0, self.evals - 1)


def run_family(family: str, args: argparse.Namespace, plan: Planner) -> dict:
    """MAML, random init and pretrained on one family -> rows, evaluations and timings."""
    res: dict = {"build_s": {}, "rows": {}, "evals": {}}
    maml, res["build_s"]["MAML"] = build(make_config(family, args))
    res["rows"]["MAML"] = train(maml, "MAML", plan.next_budget(), max_iters=args.max_iters)
    maml_steps = maml.global_step
    res["evals"]["MAML"] = evaluate(maml, [None])
    maml.close()

    # pretrained: multi-task training (no inner step), the same initial weights and env steps
    pre, res["build_s"]["pretrained"] = build(make_config(family, args, inner_steps=0))
    res["evals"]["random init"] = evaluate(pre, args.baseline_lrs)  # before training: MAML's initialisation
    res["rows"]["pretrained"] = train(pre, "pretrained", plan.next_budget(), max_steps=maml_steps)
    res["evals"]["pretrained"] = evaluate(pre, args.baseline_lrs)
    pre.close()
    plan.evaluated()
    res["tasks"] = maml.env.sample_tasks(args.eval_tasks, np.random.default_rng(maml.cfg.eval_seed))
    return res


def write_eval_csv(path: Path, results: dict) -> None:
    """One row per (family, method, step size, held-out task): its returns after 0..3 steps."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "family",
                "method",
                "inner_lr",
                "reported",
                "task_index",
                "task",
                "return_0",
                "return_1",
                "return_2",
                "return_3",
            ]
        )
        for fam, res in results.items():
            for method, evals in res["evals"].items():
                chosen = best(evals)[0]
                for lr, ret in evals:
                    for t in range(ret.shape[1]):
                        w.writerow(
                            [
                                fam,
                                method,
                                lr,
                                int(lr == chosen),
                                t,
                                " ".join(f"{v:g}" for v in res["tasks"][t]),
                                *(f"{ret[k, t]:.6g}" for k in range(ret.shape[0])),
                            ]
                        )


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean and 95% half-width of a - b per task.  a, b [T] -> (mean, ci95)"""
    d = a - b
    return float(d.mean()), ci95(d)


def report(
    results: dict, errors: list[str], args: argparse.Namespace, argv: list[str], device_label: str, total_s: float
) -> str:
    cfg = make_config(FAMILIES[0], args)
    fmt = lambda x: f"{x.mean():.1f} +- {ci95(x):.1f}"  # noqa: E731
    cmd = "python benchmarks/gpu_maml.py " + " ".join(argv)
    lines = [
        "# MAML meta-RL on one GPU: cheetah-dir and cheetah-vel on mujoco-warp worlds",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {machine_line()}  ",
        f"Measured: {time.strftime('%Y-%m-%d')}, device {device_label}, env backend {args.env_backend}, "
        f"seed {args.seed}; whole script {total_s:.0f} s.",
        "",
    ]
    if torch.device(args.device).type != "cuda":
        lines += [
            "**CPU run**: a correctness run of this script, not a measurement of GPU speed or learning; "
            "the GPU figures are not measured here.",
            "",
        ]
    lines += [
        f"Setting: {args.outer} outer update (meta lr {cfg.meta_lr}, {cfg.promp_steps} steps, clip "
        f"{cfg.clip_eps}; trpo: max KL {cfg.max_kl}), one inner policy-gradient step of size {cfg.inner_lr}, "
        f"{cfg.meta_batch} tasks x {cfg.rollouts_per_task} rollouts = {cfg.meta_batch * cfg.rollouts_per_task} "
        f"worlds, horizon {cfg.resolved_horizon()}, policy {cfg.hidden_sizes} {cfg.activation}. Pretrained: "
        "the same trainer with no inner step, trained for MAML's env steps (or at most "
        f"{', '.join(f'{v:.0f} s on {f}' for f, v in args.pretrain_cap_s.items())}; MAML: "
        f"{', '.join(f'{v:.0f} s on {f}' for f, v in args.budget_s.items())}, shrunk if the deadline "
        f"of {args.deadline_s:.0f} s needs it). "
        f"Evaluation: {args.eval_tasks} held-out tasks (seed {cfg.eval_seed}) x {args.rollouts} rollouts per "
        f"step, mean return per rollout +- 95% CI over tasks; baselines at the best of step sizes "
        f"{args.baseline_lrs}.",
        "",
        "| family | method | step size | 0 steps | 1 step | 2 steps | 3 steps | meta-iterations | env steps | "
        "training s | median s/iteration | env-steps/s | build s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fam, res in results.items():
        for method in METHODS:
            lr, ret = best(res["evals"][method])
            rows = res["rows"].get(method, [])
            steps = rows[-1]["global_step"] if rows else 0
            wall = rows[-1]["wall_s"] if rows else 0.0
            sps = f"{steps / wall:,.0f}" if wall > 0 else "-"
            it_s = f"{np.median([r['charts/iteration_time'] for r in rows]):.2f}" if rows else "-"
            build_s = res["build_s"].get(method)
            lines.append(
                f"| {fam} | {method} | {lr:g} | "
                + " | ".join(fmt(ret[k]) for k in range(4))
                + f" | {len(rows) or '-'} | {steps:,} | {wall:.1f} | {it_s} | {sps} | "
                f"{'-' if build_s is None else f'{build_s:.0f}'} |"
            )
    lines += [
        "",
        "Paired over the held-out tasks (same tasks, env and noise seeds): MAML after k steps minus the "
        "pretrained policy after k steps (its best step size), mean +- 95% CI over tasks:",
        "",
        "| family | k = 0 | k = 1 | k = 2 | k = 3 |",
        "|---|---:|---:|---:|---:|",
    ]
    diffs = {}
    for fam, res in results.items():
        m, p = best(res["evals"]["MAML"])[1], best(res["evals"]["pretrained"])[1]
        diffs[fam] = [paired(m[k], p[k]) for k in range(4)]
        lines.append(f"| {fam} | " + " | ".join(f"{d:+.1f} +- {c:.1f}" for d, c in diffs[fam]) + " |")
    lines += [
        "",
        "Targets (references: RLlib's MAML on HalfCheetahRandDirec 268 after one step at horizon "
        "100 after 211M env steps; the multi-task pretrained policy is the MAML paper's baseline):",
        "",
    ]
    if "cheetah-dir" in results:
        r1 = best(results["cheetah-dir"]["evals"]["MAML"])[1][1].mean()
        lines.append(
            f"- cheetah-dir, MAML return after one step >= {DIR_TARGET:.0f} (RLlib {RLLIB_DIR_1STEP:.0f}): "
            f"{r1:.1f}, **{'met' if r1 >= DIR_TARGET else 'not met'}**"
        )
    if "cheetah-vel" in results:
        d, c = diffs["cheetah-vel"][1]
        lines.append(
            f"- cheetah-vel, MAML 1 step - pretrained 1 step, paired 95% interval above zero: "
            f"{d:+.1f} +- {c:.1f}, **{'met' if d - c > 0 else 'not met'}**"
        )
    lines += [
        "- ant-dir: **not run**. The two cheetah families take this script's budget; the task-batched env "
        "runs ant-dir on mujoco-warp too (envs/meta/batched.py): `rlmeta meta-train ant-dir --env-backend warp`."
    ]
    lines += [f"\nERROR {e}" for e in errors]
    lines += [
        "",
        "Files: gpu_maml_train_<family>.csv (one row per meta-iteration of MAML and pretraining), "
        "gpu_maml_eval.csv (every method, step size and held-out task).",
        "",
        "![maml](gpu_maml.png)",
        "",
    ]
    return "\n".join(lines)


def plot(path: Path, results: dict) -> bool:
    try:
        import matplotlib
    except ImportError:  # a bare GPU machine may lack it: the markdown and CSVs carry the numbers
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(11, 3.8 * len(results)), squeeze=False)
    for (ax1, ax2), (fam, res) in zip(axes, results.items()):
        for method in METHODS:
            lr, ret = best(res["evals"][method])
            ax1.errorbar(
                np.arange(4),
                ret.mean(1),
                yerr=[ci95(r) for r in ret],
                marker="o",
                capsize=3,
                label=f"{method} (step {lr:g})",
            )
        if fam == "cheetah-dir":
            ax1.axhline(DIR_TARGET, color="gray", ls=":", lw=1, label=f"target {DIR_TARGET:.0f}")
            ax1.axhline(RLLIB_DIR_1STEP, color="gray", ls="--", lw=1, label=f"RLlib 1 step {RLLIB_DIR_1STEP:.0f}")
        ax1.set_xticks(range(4))
        ax1.set_xlabel("policy-gradient adaptation steps")
        ax1.set_ylabel("mean return per rollout (held-out)")
        ax1.set_title(f"{fam}: adaptation")
        ax1.legend(fontsize=7)
        for method, key, label in (
            ("MAML", "charts/pre_update_return", "MAML pre-update"),
            ("MAML", "charts/post_update_return", "MAML post-update"),
            ("pretrained", "charts/pre_update_return", "multi-task pretraining"),
        ):
            rows = res["rows"].get(method, [])
            ax2.plot([r["wall_s"] for r in rows], [r[key] for r in rows], label=label, alpha=0.8)
        ax2.set_xlabel("training wall-clock seconds")
        ax2.set_ylabel("mean training return per rollout")
        ax2.set_title(f"{fam}: training")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=RESULTS / "gpu_maml", help="folder for gpu_maml.md/.png and CSVs")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument(
        "--env-backend",
        default="warp",
        choices=["warp", "mujoco"],
        help="physics of the task-batched env: warp (mujoco-warp worlds on --device) or mujoco (CPU)",
    )
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch (and warp) device (default: cuda when available)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        nargs="+",
        default=None,
        help="MAML training seconds: one value for every family or one per family in --families order "
        "(default: cheetah-dir 150, cheetah-vel 100)",
    )
    p.add_argument(
        "--pretrain-cap-s",
        type=float,
        nargs="+",
        default=None,
        help="most seconds of pretraining (it stops earlier at MAML's env steps), as --budget-s "
        "(default: cheetah-dir 100, cheetah-vel 80)",
    )
    p.add_argument(
        "--deadline-s",
        type=float,
        default=540.0,
        help="the whole script's seconds: later training budgets shrink to end by then",
    )
    p.add_argument("--eval-reserve-s", type=float, default=20.0, help="seconds kept per family for its evaluations")
    p.add_argument(
        "--max-iters", type=int, default=0, help="stop MAML after this many meta-iterations (0: budget only)"
    )
    p.add_argument("--outer", default="promp", choices=["promp", "trpo"])
    p.add_argument("--meta-batch", type=int, default=40, help="tasks per meta-iteration")
    p.add_argument("--rollouts", type=int, default=50, help="rollouts per task and step, in training and evaluation")
    p.add_argument("--horizon", type=int, default=100)
    p.add_argument("--hidden-sizes", type=int, nargs="+", default=[64, 64])
    p.add_argument("--meta-lr", type=float, default=1e-3, help="promp: Adam learning rate")
    p.add_argument("--promp-steps", type=int, default=5, help="promp: Adam steps per meta-iteration on its samples")
    p.add_argument("--max-kl", type=float, default=0.01, help="trpo: trust-region radius")
    p.add_argument("--inner-lr", type=float, default=0.1, help="MAML's inner step size")
    p.add_argument("--eval-tasks", type=int, default=40, help="held-out tasks (= --meta-batch reuses the worlds)")
    p.add_argument("--baseline-lrs", type=float, nargs="+", default=[0.02, 0.1, 0.5])
    p.add_argument("--env-threads", type=int, default=0, help="mujoco backend: physics threads (0: one per core)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    defaults = {
        "budget_s": {"cheetah-dir": 150.0, "cheetah-vel": 100.0},
        "pretrain_cap_s": {"cheetah-dir": 100.0, "cheetah-vel": 80.0},
    }
    for name in ("budget_s", "pretrain_cap_s"):
        v = getattr(args, name) or [defaults[name][f] for f in args.families]
        if len(v) not in (1, len(args.families)):
            p.error(f"--{name.replace('_', '-')}: give one value or one per family ({len(args.families)})")
        setattr(args, name, dict(zip(args.families, v * len(args.families) if len(v) == 1 else v)))
    argv = list(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    # MAML's training phase and pretraining's cap per family; each family's evaluations are reserved
    plan = Planner(
        start + args.deadline_s,
        [b for f in args.families for b in (args.budget_s[f], args.pretrain_cap_s[f])],
        args.eval_reserve_s,
        len(args.families),
    )

    results: dict[str, dict] = {}
    errors: list[str] = []
    for fam in args.families:
        try:
            results[fam] = run_family(fam, args, plan)
        except Exception as e:
            errors.append(f"{fam}: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
            print("ERROR", errors[-1], flush=True)
            continue
        rows = results[fam]["rows"]
        write_csv(args.out / f"gpu_maml_train_{fam}.csv", rows["MAML"] + rows["pretrained"], TRAIN_COLUMNS)
        for method in METHODS:
            lr, ret = best(results[fam]["evals"][method])
            print(f"{fam} {method} (step {lr:g}): returns after 0-3 steps {ret.mean(1).round(1)}", flush=True)

    write_eval_csv(args.out / "gpu_maml_eval.csv", results)
    dev_label = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    total = time.perf_counter() - start
    md = report(results, errors, args, argv, dev_label, total)
    if not (results and plot(args.out / "gpu_maml.png", results)):
        md = md.replace("![maml](gpu_maml.png)", "(no figure: matplotlib missing or nothing trained)")
    (args.out / "gpu_maml.md").write_text(md)
    print(md)
    print(f"total {total:.0f} s", flush=True)
    return 1 if errors and not results else 0


if __name__ == "__main__":
    sys.exit(main())
