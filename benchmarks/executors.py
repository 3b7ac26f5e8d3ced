"""Executors: run a list of RunSpecs, skipping complete ones, and report progress.

- `local`: runs go to parallel `rlmeta train` processes (one per core by default); each process
  logs to OUT/logs/<run>.log. A crashed run is reported and does not stop the others.
- `ray`: the same specs as Ray tasks on a cluster (`ray.init(address=...)`, extra `dist`). Each
  task runs `rlmeta train` in the worker and sends back the run's small files (config.json,
  progress.csv, done), so the summary works without a shared filesystem; checkpoints stay on the
  worker (a shared filesystem gives resume across workers too).

Both resume: a run whose directory holds a checkpoint continues from it, a complete one is skipped.

Example:
    >>> failed = run_local(specs, jobs=2)
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from rlmeta.benchmarks.suites import RunSpec

SMALL_FILES = ("config.json", "progress.csv", "done")


def die_with_parent():
    """-> a preexec_fn after which the child gets SIGTERM when this process dies, however it dies
    (Linux prctl PR_SET_PDEATHSIG; elsewhere None). Without it a killed `rlmeta bench` left its
    training children running, and its rerun raced them on the same run directories."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def preexec() -> None:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


def last_step(run_dir: Path) -> int:
    """global_step of the last row of run_dir/progress.csv (0 when there is none yet)."""
    path = run_dir / "progress.csv"
    try:
        with path.open() as f:
            rows = list(csv.reader(f))
        return int(float(rows[-1][0])) if len(rows) > 1 else 0
    except (OSError, ValueError, IndexError):
        return 0


class SuiteProgress:
    """One bar over the env steps of every run of the suite (tqdm on a terminal; off a terminal,
    such as a log file or CI, one plain line per minute)."""

    def __init__(self, specs: Sequence[RunSpec]):
        self.specs = list(specs)
        self.total = sum(s.total_steps for s in self.specs)
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(
            total=self.total, unit="step", unit_scale=True, dynamic_ncols=True, desc="suite", disable=not self.tty
        )
        self.last_line = time.time()

    def refresh(self, running: int, finished: int) -> None:
        done = sum(min(s.total_steps, last_step(s.run_dir)) for s in self.specs)
        # runs really finished (a group's process finishes several at once; its later seeds are not
        # launched apart, which `finished` counts)
        finished = sum(s.steps_done() >= s.total_steps for s in self.specs)
        if self.tty:
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix(runs=f"{finished}/{len(self.specs)}", running=running)
        elif time.time() - self.last_line >= 60 or finished == len(self.specs):
            self.last_line = time.time()
            print(
                f"suite: {done:,}/{self.total:,} steps, runs {finished}/{len(self.specs)} finished, {running} running",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        self.bar.close()


def _pending(specs: Sequence[RunSpec]) -> list[RunSpec]:
    todo = [s for s in specs if not s.is_complete()]
    # a later seed of a group is "complete" for launching while its group's process trains it: count
    # only the runs that are really finished
    done = sum(s.steps_done() >= s.total_steps for s in specs)
    if done:
        print(f"rlmeta bench: {done} of {len(specs)} runs already complete, skipping them", file=sys.stderr)
    return todo


def run_local(specs: Sequence[RunSpec], jobs: int, log_dir: Path) -> list[str]:
    """Run pending specs in up to `jobs` parallel processes. -> names of the runs that failed."""
    todo = _pending(specs)
    if not todo:
        return []
    log_dir.mkdir(parents=True, exist_ok=True)
    # split the cores between concurrent runs (the MuJoCo backend's physics threads)
    env_threads = max(1, (os.cpu_count() or 1) // max(1, min(jobs, len(todo))))
    progress = SuiteProgress(specs)
    failed: list[str] = []
    finished = len(specs) - len(todo)

    def run(spec: RunSpec) -> int:
        cmd = [sys.executable, "-m", "rlmeta", *spec.argv(env_threads)]
        with (log_dir / f"{spec.name}.log").open("a") as log:
            log.write(f"$ rlmeta {' '.join(cmd[3:])}\n")
            log.flush()
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent()).returncode

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run, s): s for s in todo}
        pending = set(futures)
        while pending:
            done_now = [f for f in pending if f.done()]
            for f in done_now:
                pending.discard(f)
                spec = futures[f]
                finished += 1
                if f.result() != 0:
                    failed.append(spec.name)
                    tqdm.write(
                        f"rlmeta bench: {spec.name} failed (exit {f.result()}); see {log_dir / spec.name}.log",
                        file=sys.stderr,
                    )
            progress.refresh(min(jobs, len(pending)), finished)
            if pending:
                time.sleep(2.0)
    progress.close()
    return failed


def _ray_task(argv: list[str], run_dir: str) -> dict[str, str]:
    """Runs inside a Ray worker: train, then return the run's small files as text."""
    from rlmeta.app.cli import main

    code = main(argv)
    files = {name: (Path(run_dir) / name).read_text() for name in SMALL_FILES if (Path(run_dir) / name).exists()}
    files["__exit__"] = str(code)
    return files


def run_ray(specs: Sequence[RunSpec], address: str | None, num_cpus: int | None = None) -> list[str]:
    """Run pending specs as Ray tasks (1 CPU each). address=None starts a local Ray (num_cpus CPUs).
    -> names of the runs that failed."""
    try:
        import ray
    except ImportError:
        from rlmeta.core.errors import ConfigError

        raise ConfigError("--executor ray needs Ray: pip install -e '.[dist]'") from None
    todo = _pending(specs)
    if not todo:
        return []
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = {"address": address} if address else {"num_cpus": num_cpus}
        # the workers import rlmeta from this checkout (editable install or the working dir)
        ray.init(**kwargs, runtime_env={"env_vars": {"WANDB_SILENT": "true"}}, log_to_driver=False)
    task = ray.remote(num_cpus=1)(_ray_task)
    progress = SuiteProgress(specs)
    refs = {task.remote(s.argv(env_threads=1), str(s.run_dir)): s for s in todo}
    failed: list[str] = []
    finished = len(specs) - len(todo)
    try:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=5.0)
            for ref in ready:
                spec = refs[ref]
                finished += 1
                try:
                    files = ray.get(ref)
                except Exception as e:  # a worker crash or an exception inside train
                    failed.append(spec.name)
                    tqdm.write(f"rlmeta bench: {spec.name} failed on Ray: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                if files.pop("__exit__") != "0":
                    failed.append(spec.name)
                spec.run_dir.mkdir(parents=True, exist_ok=True)
                for name, text in files.items():  # no shared filesystem: copy the results back
                    path = spec.run_dir / name
                    if not path.exists() or path.read_text() != text:
                        path.write_text(text)
            progress.refresh(len(pending), finished)
    finally:
        progress.close()
        if started_here:
            ray.shutdown()
    return failed
