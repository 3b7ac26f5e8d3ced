"""The README stays true: its extension example runs (Python and CLI), its commands are CI's, its
figures are the committed results. (The network-hook example moved to examples/network_hooks.py and
docs/tutorials/network.md; tests/test_examples.py runs it.)"""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _tested_block(name: str) -> str:
    m = re.search(rf"<!-- tested: {re.escape(name)} -->\s*```python\n(.*?)```", README, re.S)
    assert m, f"README has no tested block {name}"
    return m.group(1)


def _column(path: Path, name: str) -> list[float]:
    with path.open() as f:
        return [float(r[name]) for r in csv.DictReader(f) if r.get(name)]


def test_extension_example_runs_from_python_and_cli(tmp_path: Path):
    (tmp_path / "my_ideas.py").write_text(_tested_block("my_ideas.py"))
    subprocess.run([sys.executable, "my_ideas.py"], cwd=tmp_path, check=True, capture_output=True)
    l2 = _column(tmp_path / "runs" / "ppo-l2" / "progress.csv", "losses/action_l2")
    assert len(l2) == 2 and all(math.isfinite(v) and v > 0 for v in l2)

    subprocess.run(
        [
            sys.executable,
            "-m",
            "rlmeta",
            "train",
            "my_ideas:PPOWithL2",
            "--env",
            "Hopper-v5",
            "--total-steps",
            "2048",
            "--run-dir",
            "runs/cli",
            "--no-progress",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    assert len(_column(tmp_path / "runs" / "cli" / "progress.csv", "losses/action_l2")) == 1


def test_readme_commands_are_the_scripts_ci_runs():
    assert "bash scripts/main.sh" in README and "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    assert "rlmeta bench smoke" in (ROOT / "scripts" / "main.sh").read_text()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_readme_figures_are_the_committed_csvs():
    """The headline figures are read off benchmarks/results, not typed from memory: the GPU figures
    from gpu_ppo/summary.csv, the off-policy rows from offpolicy-300k/summary.csv."""
    results = ROOT / "benchmarks" / "results"
    gpu = {(r["task"], r["seed"], r["figure"]): float(r["value"]) for r in _csv(results / "gpu_ppo" / "summary.csv")}
    for key in [
        ("HalfCheetah-v5", "0", "median_env_steps_per_s_per_iteration"),
        ("HalfCheetah-v5", "0", "whole_run_env_steps_per_s"),
        ("HalfCheetah-v5", "0", "end_to_end_env_steps_per_s_cuda_graph_update"),
        ("HalfCheetah-v5", "0", "end_to_end_env_steps_per_s_eager_update"),
    ]:
        assert f"{gpu[key]:,.0f}" in README, key
    assert f"{gpu[('HalfCheetah-v5', '0', 'final_training_return_5_iteration_mean')]:,.0f} at" in README
    assert f"6000 after {gpu[('HalfCheetah-v5', '0', 'wall_s_to_training_return_6000')]:.0f} s" in README
    assert f"3000 after {gpu[('Hopper-v5', '0', 'wall_s_to_training_return_3000')]:.0f} s" in README
    for r in _csv(results / "offpolicy-300k" / "summary.csv"):
        if r["step"] == "300000":
            row = (
                f"| {r['algo'].upper()} | {r['env']} | 300k | {r['seeds']} | {float(r['mean']):.0f} +- "
                f"{float(r['std']):.0f} | {float(r['ref_mean']):.0f} | {float(r['ratio']):.2f} |"
            )
            assert row in README, row
