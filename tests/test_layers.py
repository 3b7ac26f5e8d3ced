"""The package's layers, read off the source with an AST walk (no import runs):

    rlmeta.core  <  rlmeta.envs  <  rlmeta.agents  <  rlmeta.app, rlmeta.benchmarks

A module imports only from its own layer or below, and no chain of imports, at module level or inside
a function, comes back to where it started. Also: the packages setup.cfg installs are exactly the
folders that hold an __init__.py, and an installed rlmeta is one top-level import name that a user's
own `agents/` and `envs/` folders do not shadow.
"""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"rlmeta": "rlmeta", "agents": "rlmeta.agents", "envs": "rlmeta.envs", "benchmarks": "rlmeta.benchmarks"}
LAYERS = {"rlmeta.core": 0, "rlmeta.envs": 1, "rlmeta.agents": 2, "rlmeta.app": 3, "rlmeta.benchmarks": 3}


def layer_of(module: str) -> int | None:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def source_modules() -> dict[str, Path]:
    """Installed module name -> source file, for every .py file of the four folders."""
    out = {}
    for folder, name in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if folder == "rlmeta" and parts and parts[0] in ("agents", "envs", "benchmarks"):
                continue
            out[".".join([name, *parts])] = path
    return out


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The rlmeta modules `path` imports anywhere in its body (from X import Y counts as X.Y when
    that is a module, else X)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([node.module] if node.module else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for n in names:
            if n.split(".")[0] in ("agents", "envs", "benchmarks"):
                out.add(n)  # the old top-level names: never installed
            elif n in known:
                out.add(n)
            elif n.startswith("rlmeta."):
                parent = n
                while parent and parent not in known:
                    parent = parent.rpartition(".")[0]
                if parent:
                    out.add(parent)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = source_modules()
    known = set(mods)
    return {m: imports_of(m, p, known) for m, p in mods.items()}


def test_every_module_sits_in_a_layer():
    assert len(import_graph()) > 60  # the walk found the package
    stray = [m for m in import_graph() if m != "rlmeta" and m != "rlmeta.__main__" and layer_of(m) is None]
    assert stray == [], f"modules outside the layers (put them under core/, app/, or a layer's folder): {stray}"


def test_no_import_of_the_old_top_level_names():
    bad = {m: sorted(i for i in deps if i.split(".")[0] != "rlmeta") for m, deps in import_graph().items()}
    assert {m: d for m, d in bad.items() if d} == {}


def test_imports_point_downward():
    upward = []
    for m, deps in import_graph().items():
        lm = layer_of(m)
        if lm is None:
            continue
        for d in deps:
            ld = layer_of(d)
            if ld is not None and ld > lm:
                upward.append(f"{m} -> {d}")
    assert upward == [], "imports from a higher layer:\n" + "\n".join(sorted(upward))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (a list of modules, first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        colour[m] = GREY
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d not in colour:
                continue
            if colour[d] == GREY:
                return stack[stack.index(d) :] + [d]
            if colour[d] == WHITE and (c := visit(d)):
                return c
        stack.pop()
        colour[m] = BLACK
        return None

    for m in sorted(graph):
        if colour[m] == WHITE and (c := visit(m)):
            return c
    return None


def test_find_cycle_finds_a_planted_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles():
    graph = import_graph()
    # a package's __init__ importing its own submodules is how a package exports; the circle that
    # matters is between modules, so a submodule's edge back to its own package __init__ is dropped
    pruned = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    cycle = find_cycle(pruned)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_layering_test_catches_an_upward_import(tmp_path):
    mod = "rlmeta.core.fake"
    path = tmp_path / "fake.py"
    path.write_text("def f():\n    from rlmeta.app.runner import train\n    return train\n")
    deps = imports_of(mod, path, set(source_modules()))
    assert deps == {"rlmeta.app.runner"} and layer_of("rlmeta.app.runner") > layer_of(mod)


def test_setup_cfg_installs_every_package_folder():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    on_disk = {m for m, p in source_modules().items() if p.name == "__init__.py"}
    assert listed == on_disk


def test_installed_package_is_one_name_not_shadowed_by_user_folders(tmp_path):
    """`pip install .` (no dependencies, no network) into an empty site folder: it gains one top-level
    import name, and a project with its own agents/ and envs/ packages, run from its own folder, still
    gets rlmeta.agents and rlmeta.envs from the installed package."""
    src = tmp_path / "src"  # a copy of the tracked files: the build leaves nothing in the checkout
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for f in filter(None, (x.decode() for x in files)):
        if not (ROOT / f).is_file():  # deleted in the work tree
            continue
        if f.startswith(("rlmeta/", "agents/", "envs/", "benchmarks/")) or "/" not in f:
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    added = {
        n for n in os.listdir(site) if not n.endswith((".dist-info", ".egg-info")) and n != "bin"
    }  # bin: the script
    assert added == {"rlmeta"}
    assert (site / "rlmeta" / "agents" / "offpolicy" / "sac.py").is_file()
    assert (site / "rlmeta" / "benchmarks" / "suites" / "smoke.yaml").is_file()
    project = tmp_path / "project"
    for name in ("agents", "envs"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(f"WHO = 'user {name}'\n")
    code = (
        "import agents, envs, rlmeta.agents.offpolicy.sac, rlmeta.envs, rlmeta.app.cli;"
        "print(agents.WHO, envs.WHO, rlmeta.agents.__file__, rlmeta.envs.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("user agents user envs ")
    assert str(site / "rlmeta" / "agents") in out and str(site / "rlmeta" / "envs") in out
