"""Reference numbers of the CPU default path of DDPG/TD3/SAC, for tests/test_multiseed.py
(tests/data/offpolicy_reference.json was written by this script at commit aa89285, before
multi-seed training and the GPU update path existed):
    python tests/data/make_offpolicy_reference.py tests/data/offpolicy_reference.json
"""

import csv
import hashlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import torch

from rlmeta.app.cli import main
from rlmeta.core.checkpoint import load_checkpoint

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
    "0",
    "--log-every",
    "200",
    "--buffer-size",
    "5000",
    "--no-progress",
    "--total-steps",
    "400",
    "--seed",
    "3",
]
EXTRA = {"ddpg": [], "td3": [], "sac": ["--autotune"]}
out = {}
for algo in ["ddpg", "td3", "sac"]:
    rd = Path(tempfile.mkdtemp()) / algo
    assert main(["train", algo, "--run-dir", str(rd), *COMMON, *EXTRA[algo]]) == 0
    ck = load_checkpoint(rd / "checkpoint.pt")["agent"]
    digest = {
        k: hashlib.sha256(ck[k]["m"].numpy().tobytes() + ck[k]["v"].numpy().tobytes()).hexdigest()
        for k in ck
        if k.endswith("_opt")
    }
    params = {
        k: float(torch.cat([p.reshape(-1).double() for p in ck[k].values()]).sum()).hex() for k in ("actor", "critic")
    }
    with open(rd / "progress.csv") as f:
        rows = [{k: v for k, v in r.items() if k.startswith("losses/")} for r in csv.DictReader(f)]
    out[algo] = {"argv": COMMON + EXTRA[algo], "adam_sha256": digest, "param_sums": params, "losses": rows}
Path(sys.argv[1]).write_text(json.dumps(out, indent=1))
