"""`rlmeta sweep`: a tiny Optuna sweep completes, survives a kill without repeating trials, prunes,
writes a best preset that `rlmeta train --preset` accepts; the same space runs on a local Ray.

Values are checked against the trials' own progress.csv: a trial's value is the mean of the last
`window` logged charts/episodic_return, and the intermediate value reported at each step is that
running mean up to the step.
"""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from figures import assert_figure  # noqa: E402 (tests/figures.py)

from rlmeta.agents.onpolicy.ppo import PPOConfig  # noqa: E402
from rlmeta.app.cli import load_preset, main  # noqa: E402

SPACE = """\
preset: cleanrl
num_envs: 1
num_steps: 256
num_minibatches: 4
actor_lr: {type: float, low: 1e-4, high: 3.0e-3, log: true}
update_epochs: {type: int, low: 1, high: 3}
hidden_sizes: {type: categorical, choices: [[32, 32], [64, 64]]}
"""
METRIC = "charts/episodic_return"


def _space(tmp_path) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(SPACE)
    return p


def _args(space, out, trials, steps=2048, *extra):
    return [
        "sweep",
        "ppo",
        "--env",
        "Pendulum-v1",
        "--space",
        str(space),
        "--trials",
        str(trials),
        "--total-steps",
        str(steps),
        "--out",
        str(out),
        *extra,
    ]


def _returns(run_dir: Path) -> tuple[list[int], list[float]]:
    steps, rets = [], []
    with open(run_dir / "progress.csv") as f:
        for row in csv.DictReader(f):
            if row.get(METRIC):
                steps.append(int(row["global_step"]))
                rets.append(float(row[METRIC]))
    return steps, rets


def _trials_csv(out: Path) -> list[dict[str, str]]:
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


def _study(out: Path):
    return optuna.load_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}")


def _check_values(out: Path, trial) -> None:
    """value and intermediate values == running mean of the last 5 returns in progress.csv."""
    steps, rets = _returns(out / f"trial-{trial.number:03d}")
    running = {s: float(np.mean(rets[max(0, i - 4) : i + 1])) for i, s in enumerate(steps)}
    assert trial.intermediate_values == pytest.approx(running)
    if trial.state.name == "COMPLETE":
        assert trial.value == pytest.approx(np.mean(rets[-5:]))


def test_sweep_survives_kill_without_repeating_and_writes_best(tmp_path):
    space, out = _space(tmp_path), tmp_path / "sw"
    cmd = [sys.executable, "-m", "rlmeta", *_args(space, out, 3, 4096)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill -9 while the second trial trains (16 iterations; we poll every 20 ms)
        while not (out / "trial-001" / "progress.csv").exists():
            assert proc.poll() is None, "sweep ended before trial 1 started"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "trial-001" / "done").exists()
    first_mtime = (out / "trial-000" / "progress.csv").stat().st_mtime_ns
    assert _study(out).trials[1].state.name == "RUNNING"  # what a killed process leaves

    assert main(_args(space, out, 3, 4096)) == 0
    trials = _study(out).trials
    states = [t.state.name for t in trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].user_attrs["interrupted"] and trials[2].user_attrs["retry_of"] == 1
    assert trials[2].params == trials[1].params  # the interrupted trial is retried with its parameters
    assert trials[3].params not in (trials[0].params, trials[1].params)
    assert (out / "trial-000" / "progress.csv").stat().st_mtime_ns == first_mtime  # trial 0 not rerun
    for t in trials:
        if t.state.name == "COMPLETE":
            _check_values(out, t)
            cfg = json.loads((out / f"trial-{t.number:03d}" / "config.json").read_text())
            assert cfg["wandb_group"] == "sw" and cfg["wandb_name"] == f"sw-trial-{t.number:03d}"

    # rerunning a finished sweep runs nothing
    assert main(_args(space, out, 3, 4096)) == 0
    assert len(_study(out).trials) == 4

    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    rows = _trials_csv(out)  # the numbers of trials.md
    assert [r["trial"] for r in rows if r["best"] == "1"] == [str(best.number)]
    assert sum(r["state"] == "COMPLETE" for r in rows) == 3 and any(r["note"] == "interrupted" for r in rows)
    for r in rows:
        if r["state"] == "COMPLETE":
            t = next(t for t in trials if t.number == int(r["trial"]))
            assert float(r["value"]) == t.value and float(r["actor_lr"]) == t.params["actor_lr"]
    assert_figure(out / "importance.png", 300, 500)
    cfg = load_preset(PPOConfig, str(out / "best.yaml"))
    assert cfg.actor_lr == best.params["actor_lr"] and cfg.update_epochs == best.params["update_epochs"]
    assert cfg.hidden_sizes == tuple(json.loads(best.params["hidden_sizes"]))
    assert (cfg.env, cfg.num_steps, cfg.num_minibatches, cfg.preset) == ("Pendulum-v1", 256, 4, "cleanrl")
    # and the train CLI accepts it
    rd = tmp_path / "from-best"
    assert (
        main(
            [
                "train",
                "ppo",
                "--preset",
                str(out / "best.yaml"),
                "--total-steps",
                "256",
                "--run-dir",
                str(rd),
                "--no-progress",
            ]
        )
        == 0
    )
    assert json.loads((rd / "config.json").read_text())["actor_lr"] == best.params["actor_lr"]


def test_median_pruner_stops_a_trial_below_earlier_ones(tmp_path):
    """Three earlier trials with huge intermediate returns: the next trial is below their median at
    the first step past warm-up (total_steps // 4 = 512) and is pruned there."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space, out = _space(tmp_path), tmp_path / "pr"
    out.mkdir()
    study = optuna.create_study(study_name="pr", storage=f"sqlite:///{out / 'study.db'}", direction="maximize")
    dists = {
        "actor_lr": FloatDistribution(1e-4, 3e-3, log=True),
        "update_epochs": IntDistribution(1, 3),
        "hidden_sizes": CategoricalDistribution(["[32, 32]", "[64, 64]"]),
    }
    for lr in (1e-3, 2e-3, 5e-4):
        study.add_trial(
            optuna.trial.create_trial(
                params={"actor_lr": lr, "update_epochs": 2, "hidden_sizes": "[32, 32]"},
                distributions=dists,
                value=1e6,
                intermediate_values=dict.fromkeys(range(256, 2049, 256), 1000000.0),
            )
        )
    assert main(_args(space, out, 4, 2048)) == 0
    t = _study(out).trials[3]
    assert t.state.name == "PRUNED" and max(t.intermediate_values) == 512
    assert _returns(out / "trial-003")[0][-1] == 512 and not (out / "trial-003" / "done").exists()
    _check_values(out, t)
    assert [r["state"] for r in _trials_csv(out) if r["trial"] == "3"] == ["PRUNED"]


@pytest.mark.parametrize(
    "space,msg",
    [
        ("nosuch: {type: float, low: 0, high: 1}", "'nosuch' is not a PPOConfig field"),
        ("seed: {type: int, low: 0, high: 3}", "'seed' is set by `rlmeta sweep` flags"),
        ("actor_lr: {type: float, low: 1.0e-3, high: 1.0e-4}", "needs low < high"),
        ("actor_lr: {type: float, low: 0, high: 1, log: true}", "low must be > 0"),
        ("actor_lr: {type: beta}", "type must be float, int or categorical"),
        ("ent_coef: 0.0", "tunes nothing"),
        ("num_minibatches: {type: categorical, choices: []}", "non-empty list of choices"),
    ],
)
def test_bad_space_one_line_error(tmp_path, capsys, space, msg):
    p = tmp_path / "s.yaml"
    p.write_text(space)
    assert main(_args(p, tmp_path / "o", 2)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlmeta: error:") and msg in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_resume_with_other_settings_is_refused(tmp_path, capsys):
    space, out = _space(tmp_path), tmp_path / "sw"
    assert main(_args(space, out, 1, 512)) == 0
    assert (
        main(
            [
                "sweep",
                "ppo",
                "--env",
                "Hopper-v5",
                "--space",
                str(space),
                "--trials",
                "2",
                "--total-steps",
                "512",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "holds a different sweep" in capsys.readouterr().err
    assert len(_study(out).trials) == 1


def test_ray_executor_matches_local_trials(tmp_path):
    """Ray Tune + OptunaSearch on a real local Ray (2 CPUs, 2 concurrent trials). Same sampler seed,
    so the same two parameter sets as the local sweep, and each run reproduces the local value."""
    pytest.importorskip("ray.tune")
    space = _space(tmp_path)
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert main(_args(space, local, 2, 1024)) == 0
    assert main([*_args(space, ray_out, 2, 1024), "--executor", "ray", "--ray-cpus", "2"]) == 0
    by_params = {json.dumps(t.params, sort_keys=True): t.value for t in _study(local).trials}
    rows = [r for r in _trials_csv(ray_out) if r["state"] == "COMPLETE"]
    assert len(rows) == 2
    for n in (0, 1):
        rd = ray_out / f"trial-{n:03d}"
        cfg = json.loads((rd / "config.json").read_text())
        assert (rd / "done").exists() and cfg["wandb_group"] == "ray"
        params = {
            "actor_lr": cfg["actor_lr"],
            "update_epochs": cfg["update_epochs"],
            "hidden_sizes": json.dumps(cfg["hidden_sizes"]),
        }
        value = by_params[json.dumps(params, sort_keys=True)]
        assert np.mean(_returns(rd)[1][-5:]) == pytest.approx(value)
    best = load_preset(PPOConfig, str(ray_out / "best.yaml"))
    assert best.actor_lr in [json.loads(k)["actor_lr"] for k in by_params]


def test_ray_trial_restarted_by_ray_gets_its_folder_back(tmp_path):
    """Ray may restart a trial's function from scratch under the same trial id; it must reuse (and
    empty) its folder instead of claiming a new number."""
    from rlmeta.app.sweep import _claim_trial_dir

    assert _claim_trial_dir(tmp_path, "aaa")[0] == 0
    assert _claim_trial_dir(tmp_path, "bbb")[0] == 1
    (tmp_path / "trial-000" / "progress.csv").write_text("global_step\n512\n")  # the lost attempt
    number, run_dir = _claim_trial_dir(tmp_path, "aaa")
    assert number == 0 and run_dir == tmp_path / "trial-000"
    assert sorted(p.name for p in run_dir.iterdir()) == ["ray_trial_id.txt"]
    assert _claim_trial_dir(tmp_path, "ccc")[0] == 2


def test_importance_png_tick_labels_do_not_overlap(tmp_path, monkeypatch):
    """Seven tuned fields (long names, a categorical of tuples) and the metric: the parallel
    coordinates' tick labels sit side by side inside the figure, none over its neighbour."""
    import random

    import matplotlib.pyplot as plt

    from rlmeta.app.sweep import Param, Space, TrialRecord, write_importance_png

    params = [
        Param("actor_lr", "float", 1e-5, 1e-2, log=True),
        Param("critic_lr", "float", 1e-5, 1e-2, log=True),
        Param("update_epochs", "int", 1, 20),
        Param("gae_lambda", "float", 0.8, 0.99),
        Param("hidden_sizes", "categorical", choices=((64, 64), (256, 256), (400, 300))),
        Param("ent_coef", "float", 0.0, 0.01),
        Param("num_minibatches", "categorical", choices=(4, 8, 16, 32)),
    ]
    space = Space({p.name: p for p in params}, {})
    rng = random.Random(0)
    records = []
    for i in range(12):
        values = {
            p.name: rng.choice(p.encoded)
            if p.kind == "categorical"
            else (rng.randint(int(p.low), int(p.high)) if p.kind == "int" else rng.uniform(p.low, p.high))
            for p in params
        }
        records.append(TrialRecord(i, "COMPLETE", values, rng.uniform(0, 3000), 10.0, f"trial-{i:03d}"))
    figs, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig) or close(fig))
    write_importance_png(tmp_path / "importance.png", space, records, METRIC)
    assert_figure(tmp_path / "importance.png")
    fig = figs[0]
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[1].get_xticklabels() if t.get_text()]
    assert len(boxes) == len(params) + 1
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, (left, right)
    assert boxes[0].x0 >= 0 and boxes[-1].x1 <= fig.bbox.width


def test_an_env_the_agent_cannot_act_in_is_refused_before_the_first_trial(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("pi_lr: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}")
    argv = [
        "sweep",
        "sac",
        "--env",
        "CartPole-v1",
        "--space",
        str(p),
        "--trials",
        "3",
        "--total-steps",
        "2048",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rlmeta: error: sac needs a continuous (Box) action space; CartPole-v1 has Discrete(2)")
    assert len(err.splitlines()) == 1 and not (tmp_path / "o").exists()
