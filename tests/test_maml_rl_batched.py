"""MAML meta-RL on the task-batched torch envs (envs/meta/batched.py, `--env-backend mujoco | warp`):
the sampler gives the numpy families' rollouts on the same physics, and meta-train runs on warp."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlmeta.agents.maml.core import MetaLearner
from rlmeta.agents.maml.rl import sample_rollouts
from rlmeta.app.cli import main
from rlmeta.core.networks import GaussianActor
from rlmeta.envs.meta import make_meta_env

torch.set_num_threads(1)


@pytest.mark.parametrize("family", ["cheetah-vel", "cheetah-dir", "ant-dir", "point"])
def test_sampler_on_torch_env_equals_numpy_env(family):
    """Same seed, policy and action noise: the torch env on the batched MuJoCo backend yields the
    numpy family's rollouts (observations, actions, rewards, masks), M = 3 tasks x R = 2 rollouts."""
    tasks = {
        "cheetah-vel": [[0.3], [1.0], [1.8]],
        "cheetah-dir": [[1.0], [-1.0], [1.0]],
        "ant-dir": [[1.0], [-1.0], [1.0]],
        "point": [[0.05, 0.0], [-0.3, 0.2], [0.4, -0.4]],
    }[family]
    out = {}
    for backend in ("numpy", "mujoco"):
        env = make_meta_env(family, 6, threads=1, backend=backend)
        torch.manual_seed(0)
        log_std = -10.0 if family == "point" else -0.5
        learner = MetaLearner(GaussianActor(env.obs_dim, env.act_dim, (16,), "tanh", log_std_init=log_std), 0.1)
        if family == "point":  # step (0.05, 0) almost surely: task 0's rollouts reach their goal, are masked
            with torch.no_grad():
                learner.model.mu[-1].weight.zero_()
                learner.model.mu[-1].bias.copy_(torch.tensor([0.05, 0.0]))
        params = {k: v.detach() for k, v in learner.params().items()}
        torch.manual_seed(1)
        out[backend] = sample_rollouts(env, learner, params, False, np.array(tasks), rollouts=2, horizon=8, seed=3)
        env.close()
    for name, ref in out["numpy"]._asdict().items():
        torch.testing.assert_close(getattr(out["mujoco"], name), ref, msg=name)
    assert out["numpy"].reward.abs().sum() > 0
    if family == "point":
        assert out["numpy"].mask.min() == 0  # some rollout ended early and was masked


def test_meta_train_on_the_warp_backend(tmp_path):
    """A tiny meta-train run with the task-batched env on mujoco-warp (Warp's CPU device here)."""
    pytest.importorskip("mujoco_warp")
    args = [
        "meta-train",
        "cheetah-dir",
        "--env-backend",
        "warp",
        "--meta-batch",
        "2",
        "--rollouts-per-task",
        "2",
        "--horizon",
        "5",
        "--hidden-sizes",
        "8",
        "--meta-iterations",
        "1",
        "--eval-tasks",
        "2",
        "--eval-rollouts",
        "2",
        "--eval-steps",
        "1",
        "--no-progress",
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert main(args) == 0
    ev = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert set(ev["return_after_steps"]) == {"0", "1"}
    assert all(np.isfinite(r).all() for r in ev["per_task_returns"])
