"""One logger for every agent: console progress, progress.csv and W&B share the same metric names.

Names (CleanRL's, so runs line up in W&B): `global_step`, `charts/episodic_return`,
`charts/episodic_length`, `charts/SPS`, `charts/test_return`, `losses/<name>`, and `time/elapsed`
(wall seconds of training so far, carried across --resume; benchmark tables read it).
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm


def wandb_key_available() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import netrc

        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except Exception:
        return False


def _step(row: dict[str, Any]) -> float | None:
    try:
        return float(row["global_step"])
    except (TypeError, ValueError, KeyError):
        return None


class CSVWriter:
    """progress.csv with a header that grows when a new metric appears (the file is rewritten)."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = ["global_step"]
        if path.exists() and resume_step is not None:
            text = path.read_text()
            if not text.endswith("\n"):  # a kill mid-write left a partial last row: every full row ends in \n
                text = text[: text.rfind("\n") + 1]
            reader = csv.DictReader(io.StringIO(text))
            self.columns = list(reader.fieldnames or self.columns)
            # rows logged after the checkpoint we resume from will be produced again
            self.rows = [r for r in reader if _step(r) is not None and _step(r) <= resume_step]
            self._rewrite()
        elif path.exists():
            path.unlink()

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n")
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.path)
        self._f = None

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            self.columns += new
            self._rewrite()
            return
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, lineterminator="\n").writerow(row)


class Logger:
    """Console + progress.csv + W&B.

    Example:
        >>> log = Logger("runs/x", algo="ppo", config=cfg.to_dict(), total_steps=10_000)
        >>> log.log(2048, {"charts/episodic_return": -3.2, "charts/SPS": 4100.0})
        >>> log.close()
    """

    def __init__(
        self,
        run_dir: str | Path,
        algo: str,
        config: dict[str, Any],
        total_steps: int,
        resume_step: int | None = None,
        wandb_mode: str = "disabled",
        progress: bool = True,
    ):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv = CSVWriter(self.run_dir / "progress.csv", resume_step)
        # wall time of the work kept: a resumed run continues from the checkpoint row's clock
        last = self.csv.rows[-1] if self.csv.rows else {}
        self._elapsed0 = float(last.get("time/elapsed") or 0.0)
        self._t0 = time.perf_counter()
        self.wandb = None
        self.wandb_dir: Path | None = None
        if wandb_mode != "disabled":
            self._init_wandb(algo, config, wandb_mode, resume_step is not None)
        self._tty = progress and sys.stderr.isatty()
        self._bar = tqdm(total=total_steps, initial=resume_step or 0, unit="step", unit_scale=True,
                         dynamic_ncols=True, disable=not self._tty, desc=f"{algo} {config.get('env', '')}")
        self._progress = progress
        self._last_print = 0.0
        self._total = total_steps
        self._last: dict[str, float] = {}

    def _init_wandb(self, algo: str, config: dict[str, Any], mode: str, resuming: bool) -> None:
        # W&B suggests its LLM tracer ("Detected [agents] in use ... Weave") whenever a module named
        # `agents` is imported (OpenAI's Agents SDK); ours is an RL package: no tracer, no message
        os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
        import wandb
        from wandb.sdk.lib.runid import generate_id

        if mode == "online" and not wandb_key_available():
            print("rlmeta: no W&B API key found; logging offline (sync later with `wandb sync`)", file=sys.stderr)
            mode = "offline"
        id_file = self.run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else generate_id()
        id_file.write_text(run_id)
        env, seed = config.get("env", "env"), config.get("seed", 0)
        self.wandb = wandb.init(
            project=config.get("wandb_project", "rlmeta"),
            group=config.get("wandb_group") or f"{algo}-{env}",
            job_type=config.get("wandb_job_type", "train"),
            name=config.get("wandb_name") or f"{algo}-{env}-s{seed}",
            tags=[algo, env, *config.get("wandb_tags", ())],
            config={"algo": algo, **config},
            dir=str(self.run_dir),
            mode=mode,
            id=run_id,
            resume="allow" if resuming else None,
            settings=wandb.Settings(console="off", silent=True),
        )
        self.wandb.define_metric("global_step")
        self.wandb.define_metric("*", step_metric="global_step")
        self.wandb_dir = Path(self.wandb.dir).parent

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"global_step": step, **{k: v for k, v in metrics.items() if v is not None},
               "time/elapsed": self._elapsed0 + time.perf_counter() - self._t0}
        self.csv.write(row)
        if self.wandb is not None:
            self.wandb.log(row)
        self._last.update(row)
        self._console(step)

    def _console(self, step: int) -> None:
        # only what this agent reports (AlphaZero and meta-training have no episodic return or SPS)
        shown = {name: self._last[key] for name, key in (("return", "charts/episodic_return"),
                 ("test_return", "charts/test_return"), ("SPS", "charts/SPS"))
                 if isinstance(self._last.get(key), (int, float)) and math.isfinite(self._last[key])}
        fmt = {k: (f"{v:.0f}" if k == "SPS" else f"{v:.1f}") for k, v in shown.items()}
        if self._tty:
            self._bar.update(step - self._bar.n)
            self._bar.set_postfix(fmt, refresh=False)
        elif self._progress and time.time() - self._last_print > 30:
            self._last_print = time.time()
            extra = "".join(f" {k}={v}" for k, v in fmt.items())
            print(f"[{step}/{self._total}]{extra}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self._bar.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
