"""Several seeds in one process (rlmeta/app/multiseed.py) and the vmapped executor it shares with the
CPU's --compile: each seed of `--seeds K` matches its single run, resumes, and the CPU default path keeps
the numbers it had before either existed."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
import torch

from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint

DATA = Path(__file__).parent / "data"
ALGOS = ["ddpg", "td3", "sac"]
# small nets, 200 random steps, updates from step 100 in phases of 50, an evaluation at 200 and 400
COMMON = [
    "--env",
    "Hopper-v5",
    "--hidden-sizes",
    "32",
    "32",
    "--batch-size",
    "32",
    "--start-steps",
    "200",
    "--update-after",
    "100",
    "--update-every",
    "50",
    "--eval-every",
    "200",
    "--eval-episodes",
    "2",
    "--eval-envs",
    "2",
    "--log-every",
    "200",
    "--buffer-size",
    "5000",
    "--no-progress",
]
EXTRA = {"ddpg": [], "td3": [], "sac": ["--autotune"]}  # SAC with its temperature step too


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "progress.csv") as f:
        return list(csv.DictReader(f))


def assert_same_run(a: Path, b: Path, rtol: float, atol: float) -> None:
    """Two run dirs hold the same training: progress rows (losses, returns, counts) and the final
    checkpoint (parameters, Adam moments, replay buffer, counters) to tolerance."""
    ra, rb = rows(a), rows(b)
    assert len(ra) == len(rb) > 0
    for x, y in zip(ra, rb):
        assert x.keys() == y.keys()
        for k in x:
            if k.startswith(("losses/", "charts/")) and k != "charts/SPS" and x[k] != "":
                assert float(x[k]) == pytest.approx(float(y[k]), rel=rtol, abs=atol), (k, x["global_step"])
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert ca["global_step"] == cb["global_step"]
    ga, gb = ca["agent"], cb["agent"]
    assert ga.keys() == gb.keys()
    for net in ("actor", "critic"):
        for name, t in ga[net].items():
            torch.testing.assert_close(t, gb[net][name], rtol=rtol, atol=atol)
    for opt in [k for k in ga if k.endswith("_opt")]:
        assert ga[opt]["t"] == gb[opt]["t"] > 0
        torch.testing.assert_close(ga[opt]["m"], gb[opt]["m"], rtol=rtol, atol=atol)
    la, lb = ga["loop"], gb["loop"]
    assert (la["num_updates"], la["next_eval"], la["buffer"]["size"]) == (
        lb["num_updates"],
        lb["next_eval"],
        lb["buffer"]["size"],
    )
    # the 200 uniform-random steps depend on the seed's RNG stream and env seeding only: exact
    assert torch.equal(la["buffer"]["data"][:200], lb["buffer"]["data"][:200])
    torch.testing.assert_close(la["buffer"]["data"], lb["buffer"]["data"], rtol=rtol, atol=atol)


@pytest.mark.parametrize("algo", ALGOS)
def test_seeds_together_match_single_runs(algo, tmp_path):
    steps = ["--total-steps", "400"]
    assert (
        main(
            [
                "train",
                algo,
                "--seeds",
                "2",
                "--seed",
                "5",
                "--run-dir",
                str(tmp_path / "multi-s{seed}"),
                *COMMON,
                *steps,
                *EXTRA[algo],
            ]
        )
        == 0
    )
    for seed in (5, 6):
        single = tmp_path / f"single-s{seed}"
        assert main(["train", algo, "--seed", str(seed), "--run-dir", str(single), *COMMON, *steps, *EXTRA[algo]]) == 0
        multi = tmp_path / f"multi-s{seed}"
        # the same files as a single run of that seed, and the same config apart from the run dir
        assert {p.name for p in multi.iterdir()} == {p.name for p in single.iterdir()}
        cm, cs = (json.loads((d / "config.json").read_text()) for d in (multi, single))
        assert cm.pop("run_dir") != cs.pop("run_dir") and cm == cs and cm["seed"] == seed and cm["seeds"] == 1
        # vmapped (batched) matmuls may round differently from single ones: float tolerance
        assert_same_run(multi, single, rtol=1e-4, atol=1e-5)
    # the seeds are not copies of one another
    assert rows(tmp_path / "multi-s5")[-1]["losses/qf_loss"] != rows(tmp_path / "multi-s6")[-1]["losses/qf_loss"]


def test_seeds_resume_continues_like_an_uninterrupted_run(tmp_path):
    algo, tmpl = "td3", str(tmp_path / "half-s{seed}")
    full = str(tmp_path / "full-s{seed}")
    assert main(["train", algo, "--seeds", "2", "--run-dir", full, *COMMON, "--total-steps", "600"]) == 0
    assert main(["train", algo, "--seeds", "2", "--run-dir", tmpl, *COMMON, "--total-steps", "400"]) == 0
    assert main(["train", algo, "--seeds", "2", "--resume", tmpl, "--total-steps", "600"]) == 0
    for seed in (0, 1):
        half, whole = tmp_path / f"half-s{seed}", tmp_path / f"full-s{seed}"
        assert [r["global_step"] for r in rows(half)] == ["200", "400", "600"]
        assert_same_run(half, whole, rtol=0, atol=0)  # same process layout: bit for bit
    # seeds at different steps (one extended alone) resume in groups of equal step
    assert main(["train", algo, "--resume", str(tmp_path / "half-s0"), "--total-steps", "800"]) == 0
    assert main(["train", algo, "--seeds", "2", "--resume", tmpl, "--total-steps", "800"]) == 0
    assert [load_checkpoint(tmp_path / f"half-s{s}" / "checkpoint.pt")["global_step"] for s in (0, 1)] == [800, 800]


def test_compile_on_the_cpu_is_the_eager_run_and_resumes(tmp_path, capsys):
    """`train sac --compile` on the CPU runs each update as update_step vmapped over one seed, one
    compiled graph (OffPolicyAgent.compiled_update). Over the 200 uniform-random steps (the
    same transitions either way) it is the eager run to float rounding: fused kernels round
    differently, which grows like a 1e-7 perturbation of the weights would (about 1e-6 relative in
    the parameters after 150 updates), and a loss that is a difference of near-equal terms shows it
    more (the update-by-update check: test_functional_update_equals_update). Once the policy acts
    the trajectories part, as any rounding change makes them. A --resume (compiling again) continues
    bit for bit like an uninterrupted compiled run."""
    pytest.importorskip("torch._dynamo")
    args = [*COMMON, *EXTRA["sac"], "--eval-every", "0"]  # test episodes would amplify the rounding
    assert main(["train", "sac", "--run-dir", str(tmp_path / "eager"), *args, "--total-steps", "200"]) == 0
    half, whole = tmp_path / "half", tmp_path / "whole"
    assert main(["train", "sac", "--run-dir", str(half), *args, "--compile", "--total-steps", "200"]) == 0
    if "torch.compile" in capsys.readouterr().err:
        pytest.skip("torch.compile unavailable here (no C++ toolchain): the eager fallback ran")
    # atol: a weight whose gradient is about 0 moves by +-lr (1e-3) per Adam step whichever way its
    # rounding tips it, so a few lr of absolute difference is rounding too
    assert_same_run(half, tmp_path / "eager", rtol=1e-3, atol=5e-3)
    assert main(["train", "sac", "--resume", str(half), "--total-steps", "400"]) == 0
    assert json.loads((half / "config.json").read_text())["compile"] is True
    assert main(["train", "sac", "--run-dir", str(whole), *args, "--compile", "--total-steps", "400"]) == 0
    assert_same_run(half, whole, rtol=0, atol=0)


def test_seeds_give_each_seed_its_own_wandb_run(tmp_path):
    assert (
        main(
            [
                "train",
                "ddpg",
                "--seeds",
                "2",
                "--run-dir",
                str(tmp_path / "s{seed}"),
                *COMMON,
                "--total-steps",
                "200",
                "--wandb",
                "offline",
            ]
        )
        == 0
    )
    ids = [(tmp_path / f"s{s}" / "wandb_id.txt").read_text().strip() for s in (0, 1)]
    assert ids[0] != ids[1]
    for s, run_id in zip((0, 1), ids):
        files = list((tmp_path / f"s{s}" / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
        assert len(files) == 1 and files[0].stat().st_size > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "2", "--run-dir", "runs/x"], "{seed} placeholder"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--seeds", "two"], "--seeds"),
    ],
)
def test_seeds_bad_input_is_one_line(argv, message, capsys):
    assert main(["train", "sac", *argv, "--total-steps", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlmeta: error:") and message in err[0]


def test_seeds_refused_for_on_policy_agents(tmp_path, capsys):
    assert main(["train", "ppo", "--seeds", "2", "--run-dir", str(tmp_path / "s{seed}"), "--total-steps", "10"]) == 2
    assert "off-policy" in capsys.readouterr().err


# ---------------------------------------------------------------------- the CPU default path
def reference_numbers(tmp_path: Path) -> dict:
    """What tests/data/offpolicy_reference.json holds, computed now (its generator:
    tests/data/make_offpolicy_reference.py, run at commit aa89285, before multi-seed training)."""
    ref = json.loads((DATA / "offpolicy_reference.json").read_text())
    out = {}
    for algo, entry in ref.items():
        rd = tmp_path / algo
        assert main(["train", algo, "--run-dir", str(rd), *entry["argv"]]) == 0
        ck = load_checkpoint(rd / "checkpoint.pt")["agent"]
        digest = {
            k: hashlib.sha256(ck[k]["m"].numpy().tobytes() + ck[k]["v"].numpy().tobytes()).hexdigest()
            for k in ck
            if k.endswith("_opt")
        }
        params = {
            k: float(torch.cat([p.reshape(-1).double() for p in ck[k].values()]).sum()).hex()
            for k in ("actor", "critic")
        }
        losses = [{k: v for k, v in r.items() if k.startswith("losses/")} for r in rows(rd)]
        out[algo] = {"argv": entry["argv"], "adam_sha256": digest, "param_sums": params, "losses": losses}
    return out


def test_default_path_is_the_code_before_multiseed(tmp_path):
    """One env, Spinning Up's update schedule, torch's global RNG: parameter sums and logged losses
    as before. Bitwise where the file was generated (and there the Adam moments' SHA-256 match too);
    on another CPU (AVX2 vs AVX-512 kernels, seen here: 1e-8 to 7e-7 relative) float rounding differs,
    so the numbers are compared to 1e-5 relative, which any change to the update itself (another
    noise draw, another order of steps) exceeds by orders of magnitude. The outcome must not depend on
    the machine the tests run on."""
    got = reference_numbers(tmp_path)
    ref = json.loads((DATA / "offpolicy_reference.json").read_text())
    if got == ref:
        return  # bitwise, as on the machine that wrote the file
    for algo in ref:
        assert got[algo]["argv"] == ref[algo]["argv"]
        for net in ("actor", "critic"):
            assert float.fromhex(got[algo]["param_sums"][net]) == pytest.approx(
                float.fromhex(ref[algo]["param_sums"][net]), rel=1e-5
            ), (algo, net)
        assert len(got[algo]["losses"]) == len(ref[algo]["losses"])
        for a, b in zip(got[algo]["losses"], ref[algo]["losses"]):
            assert a.keys() == b.keys()
            for k in a:
                if b[k] != "":
                    assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-5, abs=1e-7), (algo, k)


# ---------------------------------------------------------------------- the functional update
@pytest.mark.parametrize(
    "algo, mode", [("ddpg", "eager"), ("td3", "eager"), ("sac", "eager"), ("sac", "compile"), ("td3", "graph")]
)
def test_functional_update_equals_update(algo, mode, capsys, monkeypatch):
    """The vmapped executor over one seed (StackedSeeds.update: update_step under vmap with
    torch.func.grad and a functional Adam; "compile": one torch.compile'd graph, as `--seeds K
    --compile` and the CPU's --compile; "graph": the CUDA-graph executor's plumbing, CapturedFn per
    graph_key(), which runs eagerly on the CPU) against the eager update(), from the same state and
    the same draws, for a few steps (TD3: both delay branches)."""
    from rlmeta.agents.offpolicy import stacked
    from rlmeta.app.multiseed import StackedSeeds
    from rlmeta.core.graphs import CapturedFn
    from rlmeta.core.replay import ReplayBatch
    from tests.test_offpolicy import _agent

    kw = {"autotune": True} if algo == "sac" else {}
    ref, fun = _agent(algo, seed=3, **kw), _agent(algo, seed=3, **kw)
    if mode == "graph":
        monkeypatch.setattr(stacked, "_cuda_graphs", lambda compile, device: compile)
    try:
        S = StackedSeeds([fun], compile=mode != "eager")
        for i in range(4):
            torch.manual_seed(100 + i)
            m_ref = ref.update(ref.loop.buffer.sample(8))
            torch.manual_seed(100 + i)
            b = fun.loop.buffer.sample(8)
            noise = fun.update_noise(8)
            m_fun = S.update(ReplayBatch(*(x[None] for x in b)), tuple(x[None] for x in noise))
            ref.loop.num_updates += 1
            fun.loop.num_updates += 1
            S.sync_counts()
            assert m_ref.keys() == m_fun.keys()
            for k in m_ref:
                torch.testing.assert_close(m_fun[k][0], m_ref[k], rtol=1e-5, atol=1e-6)
        for name in ("actor_opt", "critic_opt", *(["alpha_opt"] if algo == "sac" else [])):
            a, b = getattr(fun, name), getattr(ref, name)
            assert a.t == b.t == (4 if name != "actor_opt" or algo != "td3" else 2)
            torch.testing.assert_close(a.flat, b.flat, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(a.m, b.m, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(fun.critic_targ_flat, ref.critic_targ_flat, rtol=1e-5, atol=1e-6)
        assert "torch.compile" not in capsys.readouterr().err  # compiled, not the eager fallback
        if mode == "graph":  # one CapturedFn per value of graph_key()
            assert len(S._fns) == 2 and all(isinstance(f, CapturedFn) for f in S._fns.values())
        # the agent's modules see the stacked rows: its act() uses the updated actor
        obs = fun.loop.buffer.sample(4).obs.numpy()
        torch.testing.assert_close(
            torch.as_tensor(fun.act(obs, True)), torch.as_tensor(ref.act(obs, True)), rtol=1e-5, atol=1e-6
        )
    finally:
        ref.envs.close()
        fun.envs.close()


@pytest.mark.parametrize("algo", ALGOS)
def test_graph_update_path_equals_default_on_cpu(algo, monkeypatch):
    """The GPU update path's plumbing on the CPU: capturable optimizers (step count and learning
    rate as tensors) and the CapturedFn wrapper (one per graph_key; on the CPU it runs eagerly) give
    the default path's numbers to float rounding, over updates that cover TD3's two branches.
    (The CUDA replay itself is checked against eager by benchmarks/gpu_offpolicy.py on a GPU.)"""
    from rlmeta.agents.offpolicy import base as offpolicy
    from tests.test_offpolicy import _agent

    kw = {"autotune": True} if algo == "sac" else {}
    ref = _agent(algo, seed=4, **kw)
    monkeypatch.setattr(offpolicy, "use_cuda_graphs", lambda cfg, device: True)
    fast = _agent(algo, seed=4, **kw)
    try:
        assert fast.graphs and fast.actor_opt.capturable and not ref.actor_opt.capturable
        update = fast.captured_update()
        for i in range(5):
            torch.manual_seed(200 + i)
            m_ref = ref.update(ref.loop.buffer.sample(8))
            torch.manual_seed(200 + i)
            m_fast = update(fast.loop.buffer.sample(8))
            for a in (ref, fast):
                a.loop.num_updates += 1
            assert m_ref.keys() == m_fast.keys()
            for k in m_ref:
                torch.testing.assert_close(m_fast[k], m_ref[k], rtol=1e-5, atol=1e-6)
        for name in [k for k, v in vars(ref).items() if k.endswith("_opt") and v is not None]:
            a, b = getattr(fast, name), getattr(ref, name)
            assert a.t == b.t > 0
            torch.testing.assert_close(a.flat, b.flat, rtol=1e-5, atol=1e-6)
        # a capturable optimizer checkpoints like the default one and loads into it
        ref.actor_opt.load_state_dict(fast.actor_opt.state_dict())
        assert ref.actor_opt.t == fast.actor_opt.t
    finally:
        ref.envs.close()
        fast.envs.close()
