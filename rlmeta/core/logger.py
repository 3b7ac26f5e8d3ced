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
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rlmeta.core.errors import ConfigError
from rlmeta.core.fileio import append_text, write_text_atomic


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


def read_progress(path: Path, upto_step: int) -> tuple[list[str], list[dict[str, Any]]]:
    """progress.csv's columns and its rows up to `upto_step` (rows logged after the checkpoint a run
    resumes from will be produced again). A file that is not a UTF-8 CSV with a global_step column is
    a ConfigError naming it: the run resumes only from what it can read back. The runners call this
    before they write anything, so a bad file leaves the run dir as it was."""
    try:
        text = path.read_text(encoding="utf-8")
        if not text.endswith("\n"):  # a kill mid-write left a partial last row: every full row ends in \n
            text = text[: text.rfind("\n") + 1]
        reader = csv.DictReader(io.StringIO(text))
        columns = list(reader.fieldnames or [])
        rows = [r for r in reader if (step := _step(r)) is not None and step <= upto_step]
    except (UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(
            f"{path} is not a readable progress file ({type(e).__name__}); move it aside to resume without the old rows"
        ) from None
    if columns and "global_step" not in columns:
        raise ConfigError(f"{path} has no global_step column; move it aside to resume without the old rows")
    return columns, rows


WANDB_INIT_TIMEOUT_S = 20.0  # wandb.init's own default is 90 s


def wandb_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the W&B server (WANDB_BASE_URL, default api.wandb.ai:443) opens
    within `timeout` seconds: on a machine without network, logging falls back to offline at once."""
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "api.wandb.ai", port), timeout=timeout):
            return True
    except OSError:
        return False


class CSVWriter:
    """progress.csv with a header that grows when a new metric appears (the file is rewritten)."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = ["global_step"]
        if path.exists() and resume_step is not None:
            columns, self.rows = read_progress(path, resume_step)
            self.columns = columns or self.columns
            self._rewrite()
        elif path.exists():
            path.unlink()

    def _rewrite(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        write_text_atomic(self.path, buf.getvalue())
        self._f = None

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            self.columns += new
            self._rewrite()
            return
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n").writerow(row)
        append_text(self.path, buf.getvalue())


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
        self.wandb: Any = None  # the wandb Run, when W&B is on
        self.wandb_dir: Path | None = None
        if wandb_mode != "disabled":
            self._init_wandb(algo, config, wandb_mode, resume_step is not None)
        self._tty = progress and sys.stderr.isatty()
        self._bar = tqdm(
            total=total_steps,
            initial=resume_step or 0,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not self._tty,
            desc=f"{algo} {config.get('env', '')}",
        )
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
        if mode == "online" and not wandb_reachable():  # seconds, not wandb.init's 90 s wait and a traceback
            print(
                "rlmeta: the W&B server is not reachable; logging offline (sync later with `wandb sync`)",
                file=sys.stderr,
            )
            mode = "offline"
        id_file = self.run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else generate_id()
        id_file.write_text(run_id)
        env, seed = config.get("env", "env"), config.get("seed", 0)
        init = dict(
            project=config.get("wandb_project", "rlmeta"),
            group=config.get("wandb_group") or f"{algo}-{env}",
            job_type=config.get("wandb_job_type", "train"),
            name=config.get("wandb_name") or f"{algo}-{env}-s{seed}",
            tags=[algo, env, *config.get("wandb_tags", ())],
            config={"algo": algo, **config},
            dir=str(self.run_dir),
            id=run_id,
            resume="allow" if resuming else None,
            # every logger owns its run and finishes it in close(): several live in one process with
            # --seeds K. Passed here, not through WANDB_REINIT, which wandb reads once per process.
            reinit="create_new",
        )
        try:
            settings = wandb.Settings(console="off", silent=True, init_timeout=WANDB_INIT_TIMEOUT_S)
            run = wandb.init(**init, mode="online" if mode == "online" else "offline", settings=settings)
        except Exception as e:  # CommError / timeout of a server that went away after the check
            if mode != "online":
                raise
            print(
                f"rlmeta: W&B online failed ({type(e).__name__}); logging offline (sync later with `wandb sync`)",
                file=sys.stderr,
            )
            run = wandb.init(**init, mode="offline", settings=wandb.Settings(console="off", silent=True))
        run.define_metric("global_step")
        run.define_metric("*", step_metric="global_step")
        self.wandb = run
        self.wandb_dir = Path(run.dir).parent

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {
            "global_step": step,
            **{k: v for k, v in metrics.items() if v is not None},
            "time/elapsed": self._elapsed0 + time.perf_counter() - self._t0,
        }
        self.csv.write(row)
        if self.wandb is not None:
            self.wandb.log(row)
        self._last.update(row)
        self._console(step)

    def _console(self, step: int) -> None:
        # only what this agent reports (AlphaZero and meta-training have no episodic return or SPS)
        shown = {
            name: self._last[key]
            for name, key in (
                ("return", "charts/episodic_return"),
                ("test_return", "charts/test_return"),
                ("SPS", "charts/SPS"),
            )
            if isinstance(self._last.get(key), (int, float)) and math.isfinite(self._last[key])
        }
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
