"""The README stays true: its extension example runs (Python and CLI), its commands are CI's."""

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

    subprocess.run([sys.executable, "-m", "rlmeta", "train", "my_ideas:PPOWithL2", "--env", "Hopper-v5",
                    "--total-steps", "2048", "--run-dir", "runs/cli", "--no-progress"],
                   cwd=tmp_path, check=True, capture_output=True)
    assert len(_column(tmp_path / "runs" / "cli" / "progress.csv", "losses/action_l2")) == 1


def test_readme_commands_are_the_scripts_ci_runs():
    assert "bash scripts/main.sh" in README and "bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
    assert "rlmeta bench smoke" in (ROOT / "scripts" / "main.sh").read_text()


def test_network_hook_example_trains_its_own_network():
    import torch

    from rlmeta.agents.onpolicy.ppo import PPOConfig
    from rlmeta.app.registry import ALGOS, register
    from rlmeta.app.runner import build_agent

    namespace: dict = {}
    exec(_tested_block("layernorm_ppo.py"), namespace)
    register("layernorm-ppo", namespace["LayerNormPPO"])
    try:
        agent = build_agent("layernorm-ppo", PPOConfig(env="Hopper-v5", num_envs=2, num_steps=64, num_minibatches=2,
                                                       update_epochs=1, total_steps=128, progress=False))
        norm = agent.actor.mu[1]
        assert isinstance(norm, torch.nn.LayerNorm)
        before = norm.weight.detach().clone()
        agent.iteration()
        assert not torch.equal(before, norm.weight.detach())  # the optimizer stepped the LayerNorm too
        agent.envs.close()
    finally:
        ALGOS.pop("layernorm-ppo", None)
