"""`rlmeta meta-train sine`: outputs, bitwise resume, --help, one-line errors; the learn2learn adapter."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys

import pytest
import torch

from rlmeta.agents.maml.core import MetaLearner
from rlmeta.agents.maml.l2l import MISSING, get_tasksets, split_support_query, taskset_batch
from rlmeta.agents.maml.rl import MetaRLConfig
from rlmeta.agents.maml.sine import SineConfig
from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint
from rlmeta.core.errors import ConfigError
from rlmeta.core.networks import mlp

torch.set_num_threads(1)
SINE = [
    "--k-shot",
    "5",
    "--eval-tasks",
    "40",
    "--eval-query",
    "20",
    "--log-every",
    "10",
    "--checkpoint-every",
    "20",
    "--no-progress",
]


def test_sine_cli_writes_eval_with_confidence_intervals_and_resumes_bitwise(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["meta-train", "sine", *SINE, "--meta-iterations", "60", "--run-dir", str(a)]) == 0
    assert main(["meta-train", "sine", *SINE, "--meta-iterations", "40", "--run-dir", str(b)]) == 0
    assert main(["meta-train", "--resume", str(b), "--meta-iterations", "60"]) == 0
    ca, cb = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    for k, v in ca["trainer"]["learner"].items():
        assert torch.equal(v, cb["trainer"]["learner"][k]), k
    ev = json.loads((a / "eval.json").read_text())
    assert ev["k_shot"] == 5 and ev["eval_tasks"] == 40 and set(ev["mse"]) == {"0", "1", "10"}
    for s in ev["mse"].values():
        assert s["mean"] > 0 and 0 < s["ci95"] < s["mean"]
    assert json.loads((a / "config.json").read_text())["algo"] == "maml"
    header = (a / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"global_step", "losses/meta_loss", "eval/mse_1_steps"} <= set(header)

    # training rows (every log_every): the same losses to the bit; b also keeps its eval row at step 40
    def loss(d):
        return [r["losses/meta_loss"] for r in csv.DictReader((d / "progress.csv").open()) if r["losses/meta_loss"]]

    assert loss(a) == loss(b) and len(loss(a)) == 60 // 10
    # a finished run directory is not overwritten by accident
    assert main(["meta-train", "sine", "--run-dir", str(a)]) == 2


@pytest.mark.parametrize("family,Config", [("sine", SineConfig), ("point", MetaRLConfig)])
def test_help_documents_every_flag(family, Config, capsys):
    with pytest.raises(SystemExit) as e:
        main(["meta-train", family, "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(Config):
        if f.name == "env":  # the positional FAMILY
            continue
        flag = "--" + f.name.replace("_", "-")
        assert flag in out, flag


def test_meta_train_errors_are_one_line(tmp_path, capsys):
    assert main(["meta-train", "--seed", "1"]) == 2
    assert main(["meta-train", "mnist"]) == 2
    assert main(["meta-train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert main(["meta-train", "sine", "--k-shot", "0"]) == 2
    assert main(["meta-train", "cheetah-vel", "--horizon", "1000"]) == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"algo": "maml", **SineConfig().to_dict()}))
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(["meta-train", "--resume", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 6 and all(line.startswith("rlmeta: error: ") for line in err), err
    assert "corrupt checkpoint" in err[-1] and "unknown task family 'mnist'" in err[1]


class FakeTaskSet:
    """learn2learn's TaskDataset protocol: sample() -> (data [2 * ways * shots, ...], labels), interleaved."""

    def __init__(self, ways=3, shots=2):
        self.ways, self.shots, self.n = ways, shots, 0

    def sample(self):
        self.n += 1
        labels = torch.arange(self.ways).repeat_interleave(2 * self.shots)  # [0 0 0 0 1 1 1 1 2 2 2 2]
        data = torch.randn(labels.numel(), 4) + labels[:, None].float()
        return data, labels


def test_learn2learn_adapter_splits_like_learn2learn_and_feeds_maml():
    data, labels = FakeTaskSet().sample()
    xs, ys, _, yq = split_support_query(data, labels)
    assert torch.equal(xs, data[0::2]) and torch.equal(yq, labels[1::2])  # even positions adapt
    assert torch.equal(ys.bincount(), torch.tensor([2, 2, 2]))  # every class in the support set
    b = taskset_batch(FakeTaskSet(), meta_batch=5)
    assert b.xs.shape == (5, 6, 4) and b.yq.shape == (5, 6)
    torch.manual_seed(0)
    maml = MetaLearner(mlp([4, 16, 3], "relu"), inner_lr=0.5)
    ce = torch.nn.functional.cross_entropy
    before = maml.evaluate(ce, *b, steps=(0, 5))
    assert before[5].mean() < before[0].mean()  # adapting on the support set helps on the query set
    maml.meta_loss(ce, *b, steps=1).backward()
    assert all(p.grad is not None for p in maml.parameters())
    with pytest.raises(ConfigError):
        taskset_batch(FakeTaskSet(), meta_batch=0)


def test_missing_learn2learn_gives_the_install_situation(monkeypatch):
    monkeypatch.setitem(sys.modules, "learn2learn", None)  # import learn2learn -> ImportError
    with pytest.raises(ConfigError) as e:
        get_tasksets("omniglot")
    assert str(e.value) == MISSING and "rlmeta[meta]" in MISSING and "3.11" in MISSING


def test_meta_train_resume_validates_like_train(tmp_path, capsys):
    """A learning-rate override reaches the optimizer; a setting the checkpoint was trained with is
    refused in train's words with nothing written; a finished run is left byte for byte."""
    run = tmp_path / "r"
    assert main(["meta-train", "sine", *SINE, "--meta-iterations", "20", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    # finished: nothing to do, nothing rewritten (no extra eval row)
    assert main(["meta-train", "--resume", str(run)]) == 0
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files
    assert "nothing to do" in capsys.readouterr().err
    for flag, value in (
        ("--inner-lr", "0.5"),
        ("--first-order", None),
        ("--k-shot", "10"),
        ("--seed", "3"),
        ("--adapt", "head"),
    ):
        argv = ["meta-train", "--resume", str(run), "--meta-iterations", "40", flag] + ([value] if value else [])
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"--resume cannot change {flag}" in err[0], err
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files
    assert main(["meta-train", "--resume", str(run), "--meta-iterations", "40", "--meta-lr", "0.005"]) == 0
    ck = load_checkpoint(run / "checkpoint.pt")
    assert ck["config"]["meta_lr"] == 0.005
    assert [g["lr"] for g in ck["trainer"]["optimizer"]["param_groups"]] == [0.005]
