"""mkdocs hooks of the documentation site (mkdocs.yml `hooks:`).

- The API reference: mkdocstrings reads the source with griffe, which finds `rlmeta/` but not the
  sibling folders that setup.cfg's package_dir installs as rlmeta.agents, rlmeta.envs and
  rlmeta.benchmarks. The hook lays out the installed package shape once per build in a temporary
  folder of symbolic links (rlmeta/{core,app} and rlmeta/{agents,envs,benchmarks}) and points the
  python handler there.
- The benchmark results: every file of benchmarks/results/ (pages, plots, CSVs) is part of the site
  at benchmarks/results/..., so the docs link and embed the committed figures, not copies.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RESULT_SUFFIXES = {".md", ".png", ".csv", ".json"}
# rlmeta.X -> the repository folder it is installed from (setup.cfg [options] package_dir)
PACKAGE_DIRS = {
    "core": "rlmeta/core",
    "app": "rlmeta/app",
    "agents": "agents",
    "envs": "envs",
    "benchmarks": "benchmarks",
}


def _package_tree() -> Path:
    stage = Path(tempfile.mkdtemp(prefix="rlmeta-docs-"))
    atexit.register(shutil.rmtree, stage, ignore_errors=True)
    pkg = stage / "rlmeta"
    pkg.mkdir()
    for name in ("__init__.py", "py.typed"):
        (pkg / name).symlink_to(ROOT / "rlmeta" / name)
    for sub, folder in PACKAGE_DIRS.items():
        (pkg / sub).symlink_to(ROOT / folder, target_is_directory=True)
    return stage


@event_priority(100)  # before mkdocstrings makes its handlers
def on_config(config):
    handlers = config["plugins"]["mkdocstrings"].config["handlers"]
    python = handlers.setdefault("python", {})
    python["paths"] = [str(_package_tree())]
    return config


def on_files(files: Files, config) -> Files:
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file() and path.suffix in RESULT_SUFFIXES:
            uri = "benchmarks/results/" + path.relative_to(RESULTS).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
